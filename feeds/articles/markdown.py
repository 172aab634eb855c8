"""Markdown with optional YAML (---) or TOML (+++) front matter."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from typing import Any

from feeds.articles import clean
from feeds.articles.fields import meta_from_mapping
from feeds.articles.text import Meta, parse_text
from feeds.models import Article

_FRONT = re.compile(
    r"\A(?P<fence>---|\+\+\+)[ \t]*\n(?P<head>.*?)\n(?P=fence)[ \t]*(?:\n|\Z)", re.S)
_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[(?P<text>[^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_)(?=\S)(?P<text>.+?)(?<=\S)\1")
_HEADING = re.compile(r"^#{1,6}\s+(?P<text>.*?)\s*#*\s*$")
_CODE_FENCE = re.compile(r"^(```|~~~)")


class FrontMatterError(ValueError):
    pass


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = _FRONT.match(text)
    if not match:
        return {}, text
    head = match.group("head")
    import yaml  # only for YAML front matter: every ingest would pay for importing it

    try:
        data = (yaml.safe_load(head) if match.group("fence") == "---" else tomllib.loads(head))
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        kind = "YAML" if match.group("fence") == "---" else "TOML"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FrontMatterError(f"front matter is not valid {kind}: {first}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrontMatterError("front matter must be a mapping of keys to values")
    return data, text[match.end():]


def to_plain(markdown: str) -> tuple[str | None, str, list[str]]:
    """(first H1 or None, plain text, image captions). Markup goes; the words stay."""
    title: str | None = None
    captions: list[str] = []
    lines: list[str] = []
    in_code = False
    for raw in markdown.split("\n"):
        line = raw.rstrip()
        if _CODE_FENCE.match(line.strip()):
            in_code = not in_code
            continue
        if in_code:
            lines.append(line)
            continue
        heading = _HEADING.match(line.strip())
        if heading:
            text = heading.group("text")
            if title is None and line.lstrip().startswith("# ") and not any(lines):
                title = _inline(text)
                continue
            lines.extend(["", _inline(text), ""])
            continue
        for image in _IMAGE.finditer(line):
            if image.group("alt").strip():
                captions.append(_inline(image.group("alt")))
        line = _IMAGE.sub("", line)
        line = re.sub(r"^\s{0,3}>\s?", "", line)
        lines.append(_inline(line))
    return title, "\n".join(lines), captions


def _inline(text: str) -> str:
    text = _LINK.sub(lambda m: m.group("text"), text)
    text = _EMPHASIS.sub(lambda m: m.group("text"), text)
    return text.replace("`", "")


def parse_markdown(text: str, received: datetime | None = None) -> list[Article]:
    front, body = split_front_matter(clean.normalize(text))
    meta = meta_from_mapping(front)
    h1, plain, captions = to_plain(body)
    meta.title = meta.title or h1
    meta.captions.extend(captions)
    return parse_text(plain, meta, received)


__all__ = ["FrontMatterError", "parse_markdown", "split_front_matter", "Meta"]
