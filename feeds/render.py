"""The Jinja2 environment shared by pages and mail: autoescaping on, strict undefined."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import jinja2


def _date(value: datetime | None, fmt: str = "%d %B %Y") -> str:
    return value.strftime(fmt).lstrip("0") if value else ""


def _iso(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else ""


def environment(folder: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=jinja2.select_autoescape(["html", "html.j2", "xml"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["date"] = _date
    env.filters["iso"] = _iso
    return env
