"""The Jinja2 environment shared by pages and mail: autoescaping on, strict undefined."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import jinja2


def _date(value: datetime | None, fmt: str = "%d %B %Y") -> str:
    return value.strftime(fmt).lstrip("0") if value else ""


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
    env.filters["date"] = _date
    env.filters["iso"] = _iso
    return env
