"""Plain, frozen data passed between the stages (folder -> Article -> Item -> feeds, digests).

Datetimes are timezone-aware UTC; field names mirror Atom (`published`, `updated`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime

# Story signature terms that are a report's specifics (its day, counts, places:
# feeds.stories.facts) start with this; the store keeps them out of its term index.
FACT_PREFIX = "#"


@dataclass(frozen=True, slots=True)
class Article:
    """One story as the parser found it in a file. No identity yet: that is the store's."""

    title: str
    body: tuple[str, ...]
    author: str | None = None
    source: str | None = None
    dateline: str | None = None
    published: datetime | None = None  # an explicit date in the file; None means "use mtime"
    captions: tuple[str, ...] = ()
    standfirst: str | None = None
    url: str | None = None
    # Topics named by the author (front matter, a JSON "topics" key) and only those: the rules
    # still apply, and every slug here came from the file, so downstream can mark it as such.
    topics: tuple[str, ...] = ()
    title_generated: bool = False
    language: str | None = None  # ISO 639-1 of the text; None when too short to be sure
    notes: tuple[str, ...] = ()  # what the parser changed that the file did not say (explain)
    # The file asks for the article to be taken down (a `retracted` field, or a first line
    # `RETRACTED: reason`): the reason, "" when none is given; None when it does not.
    retracted: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(self.body)


@dataclass(frozen=True, slots=True)
class TopicMatch:
    slug: str
    score: float
    threshold: float
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Item:
    """An article as stored: identity, its derived data, and its place in a story."""

    id: str  # short, URL-safe, stable forever: derived from `key`
    key: str  # inbox-relative path + "#" + index within the file
    entry_id: str  # the Atom id (urn:uuid:...), derived from `key`
    title: str
    body: tuple[str, ...]
    author: str | None
    source: str | None
    dateline: str | None
    published: datetime
    updated: datetime
    summary: str
    captions: tuple[str, ...] = ()
    standfirst: str | None = None
    url: str | None = None
    story_id: str | None = None
    topics: tuple[TopicMatch, ...] = ()
    related: tuple[str, ...] = field(default=())  # ids of the other items of the same story
    language: str | None = None  # ISO 639-1 of its text, as the parser found it; None: unknown

    @property
    def topic_slugs(self) -> tuple[str, ...]:
        return tuple(t.slug for t in self.topics)


@dataclass(frozen=True, slots=True)
class Byline:
    """What a link to another report of the same story shows: its title and who wrote it."""

    id: str
    title: str
    author: str | None
    source: str | None


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What the store knows about one inbox file."""

    path: str
    status: str  # "ok", "failed", "duplicate"
    reason: str | None
    sha256: str
    size: int
    mtime_ns: int
    duplicate_of: str | None
    articles: int
    seen: datetime


@dataclass(frozen=True, slots=True)
class Story:
    id: str
    item_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Subscriber:
    email: str
    topics: tuple[str, ...]
    schedule: str
    status: str  # pending, active, paused, bounced, complained, unsubscribed
    created: datetime
    watermark: int = 0  # the last article sequence number delivered
    hard_failures: int = 0
    token: str = ""  # opaque key of the subscriber's preference and unsubscribe links
    consent_at: datetime | None = None  # when the sign-up it confirmed was made
    consent_ip: str | None = None  # and from which client address
    confirmed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    subscriber: str
    schedule: str
    run: str
    item_ids: tuple[str, ...]
    watermark: int
    message_id: str
    status: str  # "pending", "sent", "failed"
    attempts: int
    error: str | None


_ENTRY_NAMESPACE = uuid.UUID("5d0c1f4e-8a53-4c1e-9a4f-0f6b1d2e7c11")


def article_key(path: str, index: int) -> str:
    """An article's identity: its inbox-relative path and its place in the file."""
    return f"{path}#{index}"


def article_id(key: str) -> str:
    """A short, URL-safe id derived from the key alone, so it never changes."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def entry_id(key: str) -> str:
    """The Atom entry id: a urn:uuid derived from the key alone."""
    return uuid.uuid5(_ENTRY_NAMESPACE, key).urn


@dataclass(frozen=True, slots=True)
class ArticleDraft:
    """Everything ingest computed for one article, ready to be stored."""

    id: str
    key: str
    path: str
    idx: int
    entry_id: str
    title: str
    author: str | None
    source: str | None
    dateline: str | None
    standfirst: str | None
    url: str | None
    body: tuple[str, ...]
    captions: tuple[str, ...]
    summary: str
    content_hash: str
    published: datetime | None  # None: keep the stored date, or use the fallback
    topics: tuple[TopicMatch, ...]
    terms: tuple[tuple[str, float], ...]  # story signature: (term, weight)
    language: str | None = None  # ISO 639-1, as the parser found it
    retracted: str | None = None  # the file asks to take it down, for this reason (Article)
