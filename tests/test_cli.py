"""Command-line behaviour that is not any one stage's: logging formats, help, exit codes."""

from __future__ import annotations

import json

from tests.conftest import Env

STORY = "Harbour reopens\n\nThe harbour reopened on Monday. Ships docked within hours.\n"


def test_json_log_format_is_one_object_per_line(env: Env) -> None:
    env.drop("a.txt", STORY)
    env.drop("bad.json", "{")
    result = env.feeds("--log-format", "json", "ingest")
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert lines, result.stderr
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any(r["level"] == "warning" and "bad.json" in r["message"] for r in lines)
    assert any(r["logger"] == "feeds.ingest" and r["message"].startswith("ingest finished")
               for r in lines)


def test_log_level_filters(env: Env) -> None:
    env.drop("a.txt", STORY)
    quiet = env.feeds("--log-level", "warning", "ingest")
    assert "ingest finished" not in quiet.stderr


def test_help_lists_every_command(env: Env) -> None:
    out = env.feeds("--help").stdout
    for command in ("run", "ingest", "publish", "serve", "explain", "status", "config",
                    "subscribers", "digest"):
        assert f"  {command} " in out or f"  {command}\n" in out
