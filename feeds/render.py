"""The Jinja2 environment shared by pages and mail: autoescaping on, strict undefined."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2


def display_date(value: datetime | None) -> str:
    """The one way pages, feeds' pages and mail write a day: "3 December 2026"."""
    return f"{value.day} {value:%B %Y}" if value else ""


def _iso(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else ""


def environment(folder: Path, *, auto_reload: bool = True) -> jinja2.Environment:
    """`auto_reload=False`: templates are not checked for changes at each use (a stat of
    each file a page extends or includes); the caller clears `env.cache` when they change."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        auto_reload=auto_reload,
        autoescape=jinja2.select_autoescape(["html", "html.j2", "xml"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["date"] = display_date
    env.filters["iso"] = _iso
    return env


class PageTemplates:
    """The page templates, checked for edits once per `reload_edited()` (one listing of their
    folder), not by Jinja at each page, where each file a page extends or includes costs a
    stat. An edit shows from the next check on."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.environment = environment(folder, auto_reload=False)
        self._stamps: dict[str, tuple[int, int]] = {}

    def reload_edited(self) -> None:
        stamps = {}
        for parent, _dirs, names in os.walk(self.folder):
            for name in names:
                with contextlib.suppress(OSError):
                    st = os.stat(os.path.join(parent, name))
                    stamps[os.path.join(parent, name)] = (st.st_mtime_ns, st.st_size)
        if stamps != self._stamps:
            self._stamps = stamps
            if self.environment.cache is not None:
                self.environment.cache.clear()

    def render(self, name: str, values: dict[str, Any]) -> str:
        return self.environment.get_template(name).render(values)

    def compile(self, names: Iterable[str]) -> None:
        """Compile these templates now, not at their first page (the daemon, at start: the
        first article's page otherwise waited ~8 ms for `article.html` and what it extends)."""
        for name in names:
            self.environment.get_template(name)
