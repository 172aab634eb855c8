"""The README documents every config key and command; config.toml holds the working defaults."""

from __future__ import annotations

import re
from typing import Any

import click
from pydantic import BaseModel

from feeds.cli import main
from feeds.config import Config
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key of the config model; tables of named entries use SLUG / NAME."""
    found = []
    for name, field in model.model_fields.items():
        if name == "source":
            continue
        annotation: Any = field.annotation
        options = [annotation, *getattr(annotation, "__args__", ())]
        table = next((t for t in options if isinstance(t, type) and issubclass(t, BaseModel)),
                     None)
        if table is None:
            found.append(prefix + name)
        elif getattr(annotation, "__origin__", None) is dict:
            found += keys(table, f"{prefix}{name}.{'SLUG' if name == 'topics' else 'NAME'}.")
        else:
            found += keys(table, f"{prefix}{name}.")
    return found


def test_readme_starts_with_the_two_commands() -> None:
    block = README.split("```")[1]
    assert "scripts/run" in block and "scripts/test" in block


def test_every_config_key_is_in_the_readme() -> None:
    every = keys(Config)
    assert "topics.SLUG.threshold" in every and "smtp.host" in every
    missing = [key for key in every if f"`{key}`" not in README]
    assert not missing, missing


def test_every_command_is_in_the_readme() -> None:
    commands = []
    for name, command in main.commands.items():
        if isinstance(command, click.Group):
            commands += [f"feeds {name} {sub}" for sub in command.commands]
        else:
            commands.append(f"feeds {name}")
    missing = [c for c in commands if f"`{c}" not in README]
    assert not missing, missing


def test_config_toml_sets_every_table_it_documents() -> None:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    for table in ("site", "paths", "store", "ingest", "summarizer", "summarizer.llm",
                  "stories", "feeds", "topics.syria", "topics.gaza", "topics.ukraine-mediation",
                  "digests.daily", "mail", "server", "websub"):
        assert re.search(rf"^\[{re.escape(table)}\]$", text, re.M), table


# Imports every feeds module with a guard that refuses any third-party module whose
# distribution is not pinned in requirements.lock (what `scripts/run` installs).
_GUARD = """
import importlib, importlib.metadata as md, pkgutil, sys
allowed = set(sys.argv[1].split(","))
owners = md.packages_distributions()

def norm(name):
    return name.lower().replace("_", "-").replace(".", "-")

class Guard:
    def find_spec(self, name, path=None, target=None):
        if "." in name or name in sys.stdlib_module_names:
            return None
        dists = {norm(d) for d in owners.get(name, [])}
        if dists and not dists & allowed:
            raise ImportError(f"{name} ({', '.join(sorted(dists))}) is not in requirements.lock")
        return None

sys.meta_path.insert(0, Guard())
import feeds
for module in pkgutil.walk_packages(feeds.__path__, "feeds."):
    importlib.import_module(module.name)
print("ok")
"""


def test_the_runtime_lock_holds_everything_feeds_imports() -> None:
    """`scripts/run` installs requirements.lock alone (no dev tools): a library imported but
    not pinned there (blingfire's undeclared numpy once) breaks a fresh clone."""
    import subprocess
    import sys
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pinned = {re.sub(r"[_.]", "-", m.lower()) for m in re.findall(r"^([\w.-]+)==", lock, re.M)}
    pinned.add("feeds")
    result = subprocess.run([sys.executable, "-c", _GUARD, ",".join(sorted(pinned))],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
