"""Command-line behaviour that is not any one stage's: logging formats, help, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import FEEDS_BIN, Env

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


def test_version_answers_before_the_command_line_library_loads(env: Env) -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", FEEDS_BIN, "--version"],
                            capture_output=True, text=True, check=True, cwd=env.root)
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "feeds" in imported  # the importtime lines were read
    heavy = {name for name in imported
             if name.split(".")[0] in ("click", "pydantic", "sqlalchemy")}
    assert not heavy, sorted(heavy)
    through_click = subprocess.run(
        [sys.executable, "-c", "from feeds.cli import main; main(['--version'], 'feeds')"],
        capture_output=True, text=True, check=True, cwd=env.root)
    assert result.stdout == through_click.stdout
    assert result.stdout.startswith("feeds, version ")


def test_status_on_a_current_database_imports_no_migration_step(env: Env) -> None:
    """A current schema is only counted against the list of steps; the steps (their frozen
    tables) load when a database needs them, as `feeds ingest` on a new one does."""
    env.feeds("ingest")  # creates and migrates the database
    result = subprocess.run([sys.executable, "-X", "importtime", FEEDS_BIN, "--config",
                             str(env.config), "status"],
                            capture_output=True, text=True, check=True, cwd=env.root)
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "feeds.store.migrations" in imported  # the importtime lines were read
    steps = {name for name in imported if name.startswith("feeds.store.migrations.")}
    assert not steps, sorted(steps)


def test_python_dash_m_feeds_is_the_feeds_command(env: Env) -> None:
    result = subprocess.run([sys.executable, "-m", "feeds", "--help"], capture_output=True,
                            text=True, check=False, cwd=env.root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: feeds ")


def test_init_writes_a_working_starter_site_and_never_overwrites_one(tmp_path: Path) -> None:
    site = tmp_path / "new-site"
    made = subprocess.run([FEEDS_BIN, "init", str(site)], capture_output=True, text=True,
                          check=False, cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert {p.name for p in site.iterdir()} == {"config.toml", "inbox", "public", "state"}
    starter = (site / "config.toml").read_text(encoding="utf-8")
    assert starter.startswith("# feeds: the configuration of a new site")
    shown = subprocess.run([FEEDS_BIN, "--config", str(site / "config.toml"), "config"],
                           capture_output=True, text=True, check=False, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["paths"]["inbox"] == str(site / "inbox")
    (site / "config.toml").write_text("# mine\n", encoding="utf-8")
    again = subprocess.run([FEEDS_BIN, "init"], capture_output=True, text=True, check=False,
                           cwd=site)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "config.toml already exists; nothing was changed" in again.stderr
    assert (site / "config.toml").read_text(encoding="utf-8") == "# mine\n"
