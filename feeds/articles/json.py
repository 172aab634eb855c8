"""JSON: one article object, a list of them, or {"articles": [...]}."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from feeds.articles import clean
from feeds.articles.fields import BODY_KEYS, meta_from_mapping
from feeds.articles.html import looks_like_html, parse_html
from feeds.articles.text import parse_text
from feeds.models import Article


class JSONArticleError(ValueError):
    pass


def _body(item: dict[str, Any]) -> str | None:
    for name in BODY_KEYS:
        value = item.get(name)
        if isinstance(value, list):
            value = "\n\n".join(str(v) for v in value if isinstance(v, str | int | float))
        if isinstance(value, str) and value.strip():
            return value
    return None


def _syntax_error(exc: json.JSONDecodeError) -> str:
    # The decoder's messages end in "at" when it expects a position after them
    # ("Invalid control character at"): the position completes the sentence.
    where = f"line {exc.lineno} column {exc.colno}"
    message = f"{exc.msg} {where}" if exc.msg.endswith(" at") else f"{exc.msg} at {where}"
    if exc.msg.startswith("Invalid control character"):
        message += r" (a tab or line break inside a string: write it as \t or \n)"
    return f"not valid JSON: {message}"


def parse_json(text: str, received: datetime | None = None) -> list[Article]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JSONArticleError(_syntax_error(exc)) from None
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    items = data if isinstance(data, list) else [data]
    if not items:
        raise JSONArticleError("the JSON list holds no articles")
    articles: list[Article] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"item {index} is a {type(item).__name__}, not an object")
            continue
        body = _body(item)
        if body is None:
            problems.append(f"item {index} has no body (one of {', '.join(BODY_KEYS[:3])})")
            continue
        meta = meta_from_mapping(item)
        if looks_like_html(body):
            found = parse_html(body, meta, received)
        else:
            found = parse_text(clean.normalize(body), meta, received)
        if not found:
            problems.append(f"item {index} has no usable text")
        articles.extend(found[:1] if meta.title else found)
    if not articles:
        raise JSONArticleError("; ".join(problems) or "no articles")
    return articles
