"""A topic removed from the config: its subscribers are warned about (on reload and in
`feeds status`), and its page, feeds and archive pages answer 410 Gone with a page naming
the topic and linking the front page, not a bare 404. Putting it back brings them back."""

from __future__ import annotations

import signal
import tomllib
from typing import Any

import httpx

from tests.conftest import ROOT, Env, Process, dump_toml, wait_for
from tests.publishing import story

GONE_ADDRESSES = ("feeds/syria.atom", "feeds/syria.json", "feeds/syria/archive-1.atom",
                  "topics/syria.html")


def config_without_syria(env: Env, **extra: Any) -> None:
    env.write_config(**extra)
    data = tomllib.loads(env.config.read_text(encoding="utf-8"))
    del data["topics"]["syria"]
    for digest in data.get("digests", {}).values():
        if "topics" in digest:
            digest["topics"] = [t for t in digest["topics"] if t != "syria"]
    env.config.write_text(dump_toml(data), encoding="utf-8")


def test_a_removed_topic_is_gone_and_its_subscribers_are_warned_about(env: Env) -> None:
    env.drop("harbour.txt", story("Harbour works resume in Syria", "Latakia", 2))
    env.feeds("ingest")
    env.feeds("subscribers", "add", "ada@example.org", "--topics", "syria,gaza")
    env.feeds("subscribers", "add", "bo@example.org", "--topics", "gaza")
    assert "no longer configured" not in env.feeds("status").stdout
    process = Process(env, "run")
    process.wait_up()
    try:
        with httpx.Client(base_url=process.url, timeout=5) as client:
            assert client.get("feeds/syria.atom").status_code == 200
            config_without_syria(env, server={"host": "127.0.0.1", "port": process.port},
                                 ingest={"settle_seconds": 0.0, "rescan_seconds": 3600})
            process.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: client.get("feeds/syria.atom").status_code == 410, 20), \
                process.output()
            assert wait_for(lambda: "topic=syria subscribers=1" in process.output(), 5), \
                process.output()
            for address in GONE_ADDRESSES:
                response = client.get(address)
                assert response.status_code == 410, address
                assert response.headers["content-type"] == "text/html; charset=utf-8"
                assert "Syria: no longer published" in response.text
                assert 'href="http://127.0.0.1:8080/index.html"' in response.text
            assert client.get("feeds/gaza.atom").status_code == 200
            assert client.get("feeds/nothing.atom").status_code == 404
            # the notices go out first in a publish; the front page follows
            assert wait_for(lambda: "topics/syria.html" not in client.get("index.html").text,
                            10)
    finally:
        assert process.stop() == 0, process.output()
    status = env.feeds("status").stdout
    assert ("warning: topic syria is no longer configured; 1 active subscriber still name "
            "it: ada@example.org") in status
    assert env.status()["stranded_subscribers"] == {"syria": ["ada@example.org"]}


def test_a_topic_put_back_is_published_again(env: Env) -> None:
    env.drop("harbour.txt", story("Harbour works resume in Syria", "Latakia", 2))
    env.feeds("ingest")
    config_without_syria(env)
    env.feeds("publish")
    assert not (env.public / "feeds" / "syria.atom").exists()
    notice = env.public / "gone" / "topics" / "syria.html"
    assert "Syria" in notice.read_text(encoding="utf-8")
    env.feeds("publish")  # a publish with no change keeps it
    assert notice.exists()
    env.write_config()
    env.feeds("publish")
    assert (env.public / "feeds" / "syria.atom").exists()
    assert not notice.exists()
    assert tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))["topics"]["syria"]
