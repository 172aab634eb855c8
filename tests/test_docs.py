"""The README is the entry point and links every page of docs/; the docs name every config key,
command and module that exists, and nothing that does not (modules with the layer
tests/test_layers.py enforces); config.toml holds the working defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

from feeds.cli import main
from feeds.config import Config
from tests.conftest import ROOT
from tests.test_layers import LAYERS

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
PACKAGE = ROOT / "feeds"


def doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def table_column(text: str, header: str, column: int) -> list[str]:
    """The cells of one column of the markdown table that starts with the `header` row."""
    lines = text.splitlines()
    start = lines.index(header) + 2  # past the header and its |---| row
    cells = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells.append(line.strip("|").split("|")[column].strip())
    return cells


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
    lines = [line for line in README.splitlines() if line.strip()]
    assert lines[0].startswith("# ") and lines[1].startswith("```"), lines[:2]
    block = README.split("```")[1]
    assert "scripts/run" in block and "scripts/test" in block


def test_the_readme_is_an_entry_point_of_at_most_200_lines() -> None:
    assert len(README.splitlines()) <= 200


def test_the_readme_links_every_page_of_the_docs() -> None:
    pages = sorted(path.name for path in DOCS.glob("*.md"))
    assert len(pages) >= 9, pages
    missing = [name for name in pages if f"](docs/{name})" not in README]
    assert not missing, missing


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(text: str) -> set[str]:
    """The anchors a markdown renderer gives the headings of a page."""
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-") for h in headings}


def test_every_link_of_the_readme_and_the_docs_is_relative_and_resolves() -> None:
    broken = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for target in _LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                broken.append(f"{page.name}: {target} (not relative)")
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and anchor not in anchors(path.read_text(encoding="utf-8")):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def test_every_config_key_is_documented_and_every_documented_key_exists() -> None:
    every = keys(Config)
    assert "topics.SLUG.threshold" in every and "smtp.host" in every
    cells = table_column(doc("configuration.md"), "| key | default | meaning |", 0)
    documented = [cell.strip("`") for cell in cells]
    assert len(documented) == len(set(documented)), "a key documented twice"
    missing = [key for key in every if key not in documented]
    unknown = [key for key in documented if key not in every]
    assert not missing and not unknown, (missing, unknown)


def commands() -> list[str]:
    found = []
    for name, command in main.every_command.items():
        if isinstance(command, click.Group):
            found += [f"feeds {name} {sub}" for sub in command.commands]
        else:
            found.append(f"feeds {name}")
    return found


def test_every_command_is_in_the_cli_docs() -> None:
    every = commands()
    assert "feeds explain" in every and "feeds digest preview" in every
    cells = table_column(doc("cli.md"), "| command | what it does |", 0)
    missing = [c for c in every if not any(cell.startswith(f"`{c}") for cell in cells)]
    assert not missing, missing


_MODULE = re.compile(r"`(\w+\.py|\w+/)`")


def module_rows() -> list[tuple[str, str, str]]:
    """The rows of the map in docs/architecture.md: layer, module cell, owns cell."""
    text = doc("architecture.md")
    return list(zip(table_column(text, "| layer | module | owns |", 0),
                    table_column(text, "| layer | module | owns |", 1),
                    table_column(text, "| layer | module | owns |", 2), strict=True))


def module_map() -> list[str]:
    """The modules the map in docs/architecture.md names: `name.py` or `name/` in its column."""
    return [name for _, cell, _ in module_rows() for name in _MODULE.findall(cell)]


def package_tree() -> list[str]:
    """The top-level modules and packages of feeds/."""
    return package_contents(PACKAGE)


def package_contents(folder: Path) -> list[str]:
    """The modules (`name.py`) and packages (`name/`) directly inside one package folder."""
    modules = [p.name for p in folder.glob("*.py") if p.name != "__init__.py"]
    packages = [f"{p.name}/" for p in folder.iterdir() if (p / "__init__.py").exists()]
    return sorted(modules + packages)


def test_the_module_map_names_every_module_of_the_package() -> None:
    mapped = module_map()
    assert "config/" in mapped and "store/" in mapped
    missing = [name for name in package_tree() if name not in mapped]
    assert not missing, f"in feeds/ but not in docs/architecture.md: {missing}"


def test_every_module_in_the_map_exists() -> None:
    tree = package_tree()
    unknown = [name for name in module_map() if name not in tree]
    assert not unknown, f"in docs/architecture.md but not in feeds/: {unknown}"


def test_the_map_gives_each_module_the_layer_test_layers_enforces() -> None:
    wrong = [f"{name} in layer {layer}, tests/test_layers.py: {LAYERS[stem]}"
             for layer, cell, _ in module_rows() for name in _MODULE.findall(cell)
             if (stem := name.removesuffix(".py").removesuffix("/")) in LAYERS
             and int(layer) != LAYERS[stem]]
    assert not wrong, wrong


def test_each_package_row_names_exactly_the_modules_of_that_package() -> None:
    """A package's "owns" cell names its own modules (`name.py`) and sub-packages (`name/`);
    `__init__.py` may be named and need not be."""
    problems = []
    for _, cell, owns in module_rows():
        for package in (name for name in _MODULE.findall(cell) if name.endswith("/")):
            named = set(_MODULE.findall(owns)) - {"__init__.py"}
            present = set(package_contents(PACKAGE / package))
            problems += [f"{package}{name} is in feeds/ but not in its row"
                         for name in sorted(present - named)]
            problems += [f"{package}{name} is in its row but not in feeds/"
                         for name in sorted(named - present)]
    assert not problems, problems


def test_the_readme_sketch_names_every_module_in_its_layer() -> None:
    """The README's one-screen tree: a line per layer, `N  name.py name/ …  what they are`."""
    sketch = README.split("\nfeeds/\n", 1)[1].split("```", 1)[0]
    rows = re.findall(r"^  (\d)  (\S+(?: \S+)*)", sketch, re.M)
    assert len(rows) >= 8, sketch
    named = {name: int(layer) for layer, names in rows for name in names.split()}
    tree = package_tree()
    missing = [name for name in tree if name not in named]
    unknown = [name for name in named if name not in tree]
    assert not missing and not unknown, f"not in the sketch: {missing}; not in feeds/: {unknown}"
    wrong = {name: layer for name, layer in named.items()
             if layer != LAYERS[name.removesuffix(".py").removesuffix("/")]}
    assert not wrong, wrong


_TEST_NAMES = re.compile(r"`(test_\w+\.py)(?:::(\w+))?`|`(test_\w+)`")


def test_every_test_the_guarantees_name_exists() -> None:
    """A bare `test_name` after `test_file.py::…` in the same cell belongs to that file."""
    cells = table_column(doc("guarantees.md"), "| promise | proved by |", 1)
    named, missing = 0, []
    for cell in cells:
        file = None
        for match in _TEST_NAMES.finditer(cell):
            name = match.group(2) or match.group(3)
            file = match.group(1) or file
            assert file is not None, cell
            path = ROOT / "tests" / file
            if not path.exists():
                missing.append(file)
            elif name and f"def {name}(" not in path.read_text(encoding="utf-8"):
                missing.append(f"{file}::{name}")
            named += 1
    assert named > 30 and not missing, missing


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
            missing = f"{name} ({', '.join(sorted(dists))}) is not in requirements.lock"
            raise ModuleNotFoundError(missing)
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
