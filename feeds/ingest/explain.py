"""`feeds explain`: what the stages make of one file, storing nothing. The `--json` shape is
a documented contract scripts rely on: keep its keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feeds.articles import parse_file
from feeds.errors import ParseError
from feeds.ingest.pipeline import Pipeline
from feeds.ingest.scan import received, relative_name
from feeds.models import TopicMatch


def explain_file(pipeline: Pipeline, path: Path, inbox: Path) -> dict[str, Any]:
    """What the stages make of one file, storing nothing (the `feeds explain --json` shape)."""
    rel = relative_name(path, inbox)
    try:
        data = path.read_bytes()
        mtime_ns = path.stat().st_mtime_ns
    except OSError as exc:
        return {"path": str(path), "error": f"cannot read: {exc.strerror or exc}",
                "articles": []}
    try:
        articles = parse_file(rel, data, received(mtime_ns))
    except ParseError as exc:
        return {"path": str(path), "error": exc.reason, "articles": []}
    out = []
    for article in articles:
        out.append({
            "title": article.title,
            "title_generated": article.title_generated,
            "author": article.author,
            "source": article.source,
            "dateline": article.dateline,
            "published": article.published.isoformat() if article.published else None,
            "standfirst": article.standfirst,
            "url": article.url,
            "body": list(article.body),
            "captions": list(article.captions),
            "summary": pipeline.summarize(article),
            "topics": [topic_json(t) for t in pipeline.classify(article)],
            "scores": [topic_json(t) for t in pipeline.explain_topics(article)],
            "language": article.language,
            "notes": list(article.notes),
        })
    return {"path": str(path), "error": None, "articles": out}


def topic_json(match: TopicMatch) -> dict[str, Any]:
    return {"slug": match.slug, "score": match.score, "threshold": match.threshold,
            "evidence": list(match.evidence)}
