"""config.toml validation: errors name the key, say what was expected and what was found."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from feeds.config import load_config
from feeds.errors import ConfigError
from tests.conftest import ROOT, Env


def test_the_default_config_is_valid_and_resolves_paths_against_its_folder() -> None:
    config = load_config(ROOT / "config.toml")
    assert set(config.topics) == {"syria", "gaza", "ukraine-mediation"}
    assert config.paths.inbox == (ROOT / "samples" / "inbox").resolve()
    assert config.paths.state == (ROOT / "state").resolve()
    assert config.database_url == f"sqlite:///{ROOT.resolve() / 'state' / 'feeds.db'}"
    assert "daily" in config.digests
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8080)


@pytest.mark.parametrize(("snippet", "message"), [
    ('[topics.gaza]\ntitle = "Gaza"\nthreshold = "high"\nterms = { gaza = 1.0 }\n',
     'topics.gaza.threshold: expected a number, got "high"'),
    ('[server]\nport = "eighty"\n', 'server.port: expected an integer, got "eighty"'),
    # TOML has types: a number in quotes is named, not converted
    ('[server]\nport = "8080"\n', 'server.port: expected an integer, got "8080"'),
    ('[stories]\nthreshold = "0.2"\n', 'stories.threshold: expected a number, got "0.2"'),
    ('[ingest]\nfollow_symlinks = "yes"\n',
     'ingest.follow_symlinks: expected true or false, got "yes"'),
    ('[site]\ntitle = 2026\n', "site.title: expected a string, got 2026"),
    ('[server]\nprot = 8080\n', "server.prot: unknown key"),
    ('[nonsense]\nx = 1\n', "nonsense: unknown key"),
    ('[site]\nbase_url = "example.org"\n', 'site.base_url: expected an absolute http(s) URL'),
    ('[digests.daily]\ncron = "0 7 * *"\n', "digests.daily.cron: expected five cron fields"),
    ('[digests.daily]\ncron = "0 7 * * *"\ntimezone = "Mars/Olympus"\n',
     'digests.daily.timezone: unknown time zone "Mars/Olympus"'),
    ('[digests.daily]\ncron = "0 7 * * *"\nsubject = "{site}: {n} new"\n',
     "digests.daily.subject: bad placeholder 'n' in"),
    ('[summarizer]\nmethod = "magic"\n', "summarizer.method: expected one of 'extractive' or"),
    ('[topics.gaza]\ntitle = "Gaza"\n', "topics.gaza: a topic needs at least one entry"),
    ('[topics.All]\ntitle = "x"\nterms = { x = 1.0 }\n', "topics: topic name \"All\""),
    ("[site\n", "config.toml: not valid TOML"),
])
def test_bad_config_names_the_key(tmp_path: Path, snippet: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(snippet, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)


def test_cli_reports_config_errors_with_exit_code_2_and_no_traceback(env: Env) -> None:
    env.config.write_text('[topics.gaza]\ntitle = "Gaza"\nthreshold = "high"\n'
                          'terms = { gaza = 1.0 }\n', encoding="utf-8")
    for command in (["ingest"], ["status"], ["config"]):
        result = env.feeds(*command, check=False)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (
            'feeds: config.toml: topics.gaza.threshold: expected a number, got "high"')


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.config.unlink()
    result = env.feeds("status", check=False)
    assert result.returncode == 2
    assert "file not found" in result.stderr and "hint:" in result.stderr


def test_feeds_config_prints_effective_values_with_secrets_redacted(env: Env) -> None:
    env.write_config(smtp={"host": "mail.example.org", "password_env": "TEST_SMTP_PW"},
                     store={"url": "postgresql://feeds:hunter2@db/feeds"})
    out = json.loads(env.feeds("config", env={"TEST_SMTP_PW": "s3cret"}).stdout)
    assert out["smtp"]["password"] == "<redacted>"
    assert "hunter2" not in json.dumps(out) and "s3cret" not in json.dumps(out)
    assert out["store"]["url"] == "postgresql://feeds:<redacted>@db/feeds"
    assert out["ingest"]["max_bytes"] == 5_000_000
    cpus = len(os.sched_getaffinity(0))
    assert out["ingest"]["processes"] is None  # as written: the default
    assert out["ingest"]["effective_processes"] == min(4, cpus - 1)  # what a backfill starts
