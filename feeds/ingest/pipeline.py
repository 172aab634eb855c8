"""The pure stages, configured once (summarizer, topic rules, story signature), and what they
make of a file: parse, then summarize and classify each article, ready to store."""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from feeds.articles import parse_file
from feeds.articles.text import make_title
from feeds.config import Config
from feeds.errors import ParseError
from feeds.ingest.scan import FileRead, received
from feeds.models import Article, ArticleDraft, Item, TopicMatch, article_id, article_key, entry_id
from feeds.stories import signature
from feeds.summarize import LLMSummarizer, extractive_summary
from feeds.topics import Rules, classify, compile_rules, explain, named_by_author

if TYPE_CHECKING:
    import httpx

# every module of the package logs as "feeds.ingest": the name log filters and tests know
log = logging.getLogger("feeds.ingest")


class Pipeline:
    """The pure stages, configured once: summarizer, topic rules, story signature."""

    def __init__(self, config: Config, *, http: httpx.Client | None = None) -> None:
        self.config = config
        self.rules: dict[str, Rules] = compile_rules(config.topics)
        self._http = http
        self._llm: LLMSummarizer | None = None
        if config.summarizer.method == "llm":
            llm = config.summarizer.llm
            import httpx  # only with method = "llm": every ingest would pay for importing it
            self._http = http or httpx.Client()
            self._llm = LLMSummarizer(self._http, url=llm.url, model=llm.model,
                                      api_key=os.environ.get(llm.api_key_env, ""),
                                      timeout=llm.timeout_seconds)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def summarize(self, article: Article) -> str:
        limits = self.config.summarizer
        if self._llm is not None:
            return self._llm(article, max_words=limits.max_words,
                             max_sentences=limits.max_sentences)
        return extractive_summary(article, max_words=limits.max_words,
                                  max_sentences=limits.max_sentences)

    def classify(self, article: Article) -> list[TopicMatch]:
        return classify(article, self.rules)

    def explain_topics(self, article: Article) -> list[TopicMatch]:
        return explain(article, self.rules)


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """A file read and parsed: its articles ready to store, or why it has none. The bytes
    are not kept: from here on only the file's name, size and hash are needed."""

    read: FileRead
    sha256: str
    drafts: tuple[ArticleDraft, ...] = ()
    reason: str | None = None
    warning: str | None = None  # read, but with something the editor should fix


def drafts_for(pipeline: Pipeline, rel: str, articles: Sequence[Article]
               ) -> tuple[ArticleDraft, ...]:
    """What the stages make of a file's articles, ready to store."""
    drafts = []
    for index, article in enumerate(articles):
        key = article_key(rel, index)
        summary = pipeline.summarize(article)
        topics = tuple(pipeline.classify(article))
        content = json.dumps([article.title, article.body, article.author, article.source,
                              article.dateline, article.standfirst, article.url,
                              article.captions, article.published and
                              article.published.isoformat(), summary,
                              [(t.slug, t.score) for t in topics]], ensure_ascii=False)
        drafts.append(ArticleDraft(
            id=article_id(key), key=key, path=rel, idx=index, entry_id=entry_id(key),
            title=article.title, author=article.author, source=article.source,
            dateline=article.dateline, standfirst=article.standfirst, url=article.url,
            body=article.body, captions=article.captions, summary=summary,
            content_hash=hashlib.sha256(content.encode("utf-8")).hexdigest(),
            published=article.published, topics=topics,
            terms=tuple(signature(article).items()), language=article.language,
            retracted=article.retracted,
        ))
    return tuple(drafts)


def parse_reads(pipeline: Pipeline, reads: Sequence[FileRead]) -> list[ParsedFile | FileRead]:
    """Parse what was read; a file that could not be read stays as it is."""
    out: list[ParsedFile | FileRead] = []
    for read in reads:
        if read.data is None:
            out.append(read)
            continue
        sha = hashlib.sha256(read.data).hexdigest()
        try:
            articles = parse_file(read.rel, read.data, received(read.mtime_ns))
        except ParseError as exc:
            out.append(ParsedFile(replace(read, data=None), sha, reason=exc.reason))
            continue
        except Exception as exc:  # a parser bug must not stop the run; record it
            log.exception("parser crashed path=%s", read.rel)
            out.append(ParsedFile(replace(read, data=None), sha,
                                  reason=f"internal parser error: {type(exc).__name__}"))
            continue
        warning = unknown_topics(articles, pipeline.rules)
        if warning is not None:
            log.warning("front matter names an unknown topic path=%s problem=%s", read.rel,
                        warning)
        out.append(ParsedFile(replace(read, data=None), sha,
                              drafts=drafts_for(pipeline, read.rel, articles), warning=warning))
    return out


def unknown_topics(articles: Sequence[Article], known: Mapping[str, object]) -> str | None:
    """What to tell the editor when front matter names topics the config does not have
    (the rules still place the article; the named topic alone is ignored)."""
    unknown = sorted({slug for article in articles for slug in article.topics
                      if slug not in known})
    if not unknown:
        return None
    named = []
    for slug in unknown:
        close = difflib.get_close_matches(slug, list(known), n=1, cutoff=0.6)
        named.append(f"{slug!r} (did you mean {close[0]}?)" if close else repr(slug))
    return (f"front matter names unknown {'topic' if len(unknown) == 1 else 'topics'} "
            f"{', '.join(named)}; ignored (known: {', '.join(sorted(known)) or 'none'})")


def as_parsed_article(item: Item) -> Article:
    """A stored article as the parser gave it, for the topic rules: what they read (title,
    standfirst, dateline, body, captions), the topics its front matter named (kept in their
    evidence), and whether its title was made from the first sentence (the parser's own
    make_title gives that title back)."""
    generated = bool(item.body) and item.title == make_title(item.body[0])
    return Article(title=item.title, body=item.body, standfirst=item.standfirst,
                   dateline=item.dateline, captions=item.captions,
                   topics=named_by_author(item.topics), title_generated=generated)
