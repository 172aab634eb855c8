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
    except yaml.YAMLError as exc:
        raise FrontMatterError(_yaml_error(exc, head)) from None
    except tomllib.TOMLDecodeError as exc:
        raise FrontMatterError(_toml_error(exc)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrontMatterError("front matter must be a mapping of keys to values")
    return data, text[match.end():]


# The front matter starts on the file's second line, after its fence.
_HEAD_OFFSET = 1
_TOML_AT_LINE = re.compile(r"\(at line (?P<line>\d+)")


def _yaml_error(exc: Exception, head: str) -> str:
    import yaml

    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f"front matter is not valid YAML: {message}"
    mark = exc.problem_mark
    problem = exc.problem or message
    text = f"front matter is not valid YAML: {problem} on line {mark.line + 1 + _HEAD_OFFSET}"
    lines = head.split("\n")
    line = lines[mark.line] if mark.line < len(lines) else ""
    key, colon, value = line.partition(":")
    if colon and value.strip() and ("mapping values" in problem
                                    or "cannot start any token" in problem):
        quoted = value.strip().replace("\\", "\\\\").replace('"', '\\"')
        text += f'; quote the value: {key.strip()}: "{quoted}"'
    return text


def _toml_error(exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc).strip() or type(exc).__name__
    message = _TOML_AT_LINE.sub(
        lambda m: f"(at line {int(m.group('line')) + _HEAD_OFFSET}", message)
    message = message.replace("(at end of document)", "(at the end of the front matter)")
    return f"front matter is not valid TOML: {message}"


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
