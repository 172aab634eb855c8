"""`feeds explain`: what the stages make of one file, storing nothing. The `--json` shape is
a documented contract scripts rely on: keep its keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feeds.articles import parse_file
from feeds.errors import ParseError
from feeds.ingest.pipeline import Pipeline, unknown_topics
from feeds.ingest.scan import read_file, received, relative_name
from feeds.models import TopicMatch
from feeds.topics import NAMED_BY_AUTHOR, named_by_author


def explain_file(pipeline: Pipeline, path: Path, inbox: Path) -> dict[str, Any]:
    """What the stages make of one file, storing nothing (the `feeds explain --json` shape)."""
    rel = relative_name(path, inbox)
    # read as ingest reads it, so the limits (ingest.max_bytes, symlinks) answer the same
    read = read_file(path, rel, inbox, pipeline.config.ingest)
    if read.data is None:
        reason = ("cannot read: No such file or directory" if read.reason == "vanished"
                  else read.reason)
        return {"path": str(path), "error": reason, "articles": []}
    try:
        articles = parse_file(rel, read.data, received(read.mtime_ns))
    except ParseError as exc:
        return {"path": str(path), "error": exc.reason, "articles": []}
    out = []
    warning = unknown_topics(articles, pipeline.rules)
    for article in articles:
        topics = pipeline.classify(article)
        named = set(named_by_author(topics))
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
            "topics": [topic_json(t) for t in topics],
            # the rules' own score; a topic the front matter put the article in says so first
            "scores": [topic_json(t, named=t.slug in named)
                       for t in pipeline.explain_topics(article)],
            "language": article.language,
            "retracted": article.retracted,  # the reason the file gives; None: not asked
            "notes": list(article.notes) + ([warning] if warning else []),
        })
    return {"path": str(path), "error": None, "articles": out}


def topic_json(match: TopicMatch, *, named: bool = False) -> dict[str, Any]:
    evidence = [NAMED_BY_AUTHOR, *match.evidence] if named else list(match.evidence)
    return {"slug": match.slug, "score": match.score, "threshold": match.threshold,
            "evidence": evidence}
