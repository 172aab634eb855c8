"""Imports follow the data flow: a module imports only from layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

LAYERS = {
    "models": 0, "errors": 0, "language": 0, "render": 0, "logs": 0, "workers": 0,
    "urls": 0, "files": 0,
    "config": 1,
    "articles": 2, "summarize": 2, "topics": 2, "stories": 2, "mail": 2, "tokens": 2,
    "websub": 2, "bounces": 2, "cron": 2,
    "store": 3,
    "status": 4,  # one read-only snapshot of the store that `web` and the CLI both render
    "ingest": 5, "publish": 5, "digest": 5, "web": 5,
    "topic_check": 5,
    "daemon": 6,
    "cli": 7,
}


def top_name(module: str) -> str:
    return module.split(".")[1] if module.startswith("feeds.") else ""


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("feeds"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("feeds"))
    return found


def test_every_module_has_a_layer() -> None:
    package = ROOT / "feeds"
    names = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert names <= set(LAYERS), names - set(LAYERS)


def test_imports_only_go_down_the_layers() -> None:
    problems = []
    for path in sorted((ROOT / "feeds").rglob("*.py")):
        relative = path.relative_to(ROOT / "feeds")
        own = relative.parts[0].removesuffix(".py")
        if own == "__init__":
            continue
        for module in imports_of(path):
            other = top_name(module)
            if other in ("", own):
                continue  # the package root, or a module of the same package
            if LAYERS[other] >= LAYERS[own]:
                problems.append(f"{relative} (layer {LAYERS[own]}) imports {module} "
                                f"(layer {LAYERS[other]})")
    assert not problems, "\n".join(problems)


def test_no_module_over_400_lines_and_no_class_over_250() -> None:
    """A module or class past these sizes holds more than one thing a newcomer reads at once."""
    problems = []
    for path in sorted((ROOT / "feeds").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        relative = path.relative_to(ROOT)
        if (lines := text.count("\n")) > 400:
            problems.append(f"{relative}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if (isinstance(node, ast.ClassDef) and node.end_lineno is not None
                    and (size := node.end_lineno - node.lineno + 1) > 250):
                problems.append(f"{relative}: class {node.name}, {size} lines")
    assert not problems, "\n".join(problems)


def test_no_test_imports_a_private_name() -> None:
    """A unit worth testing has a public home; tests use what the package offers."""
    problems = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("feeds"):
                problems += [f"{path.name}: {node.module}.{a.name}" for a in node.names
                             if a.name.startswith("_")]
    assert not problems, problems
