"""Every output path under public/ and every URL the site links to, in one place.

Paths are relative to the public folder; URLs are absolute, `base` (the configured
`site.base_url`, which always ends in "/") followed by the path. Pure functions: no I/O.
"""

from __future__ import annotations

import uuid
from pathlib import Path

ALL = "all"  # the feed of every topic
OTHER = "other"  # the page of the articles in no topic (topics/other.html)
INDEX = Path("index.html")
OPML = Path("feeds.opml")
# What a publish writes, and so may remove again: pages and feeds in these folders.
OUTPUT_FOLDERS = ("articles", "feeds", "topics", "gone")
# The notices of what was taken down (a retracted article, a removed topic): served with
# 410 Gone in place of the addresses they stand for (see gone_notice_for).
GONE = Path("gone")
OUTPUT_SUFFIXES = (".html", ".atom", ".json")
# Feed ids are derived from the slug alone, so they never change with the base URL.
_FEED_NAMESPACE = uuid.UUID("9a3c3b0e-2f7d-4d0e-8f55-7b2f6c1a4e90")


def feed_path(slug: str) -> Path:
    return Path("feeds") / f"{slug}.atom"


def json_feed_path(slug: str) -> Path:
    return Path("feeds") / f"{slug}.json"


def archive_path(slug: str, page: int) -> Path:
    """RFC 5005 archive page `page` (from 1, the oldest) of a feed."""
    return Path("feeds") / slug / f"archive-{page}.atom"


def topic_page_path(slug: str) -> Path:
    return Path("topics") / f"{slug}.html"


def article_page_path(item_id: str) -> Path:
    return Path("articles") / f"{item_id}.html"


def gone_article_path(item_id: str) -> Path:
    """The notice a retracted article's page address answers with."""
    return GONE / "articles" / f"{item_id}.html"


def gone_topic_path(slug: str) -> Path:
    """The notice a removed topic's page, feeds and archive pages answer with."""
    return GONE / "topics" / f"{slug}.html"


def gone_notice_for(url_path: str) -> str | None:
    """The URL path of the notice that may stand for a missing URL path: an article page's,
    or a topic's (for its page, Atom and JSON feeds and archive pages); None for others."""
    parts = url_path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "articles" and parts[1].endswith(".html"):
        return f"/{gone_article_path(parts[1].removesuffix('.html')).as_posix()}"
    slug = None
    if len(parts) == 2 and parts[0] == "topics" and parts[1].endswith(".html"):
        slug = parts[1].removesuffix(".html")
    elif len(parts) == 2 and parts[0] == "feeds":
        slug = parts[1].removesuffix(".atom").removesuffix(".json")
        slug = None if slug == parts[1] else slug
    elif len(parts) == 3 and parts[0] == "feeds":
        slug = parts[1]
    return None if not slug or slug == ALL else f"/{gone_topic_path(slug).as_posix()}"


def feed_url(base: str, slug: str) -> str:
    return f"{base}feeds/{slug}.atom"


def json_feed_url(base: str, slug: str) -> str:
    return f"{base}feeds/{slug}.json"


def archive_url(base: str, slug: str, page: int) -> str:
    return f"{base}feeds/{slug}/archive-{page}.atom"


def topic_page_url(base: str, slug: str) -> str:
    """A topic's page; the "all" feed's page is the front page."""
    return f"{base}index.html" if slug == ALL else f"{base}topics/{slug}.html"


def topic_scheme(base: str) -> str:
    """The `scheme` of an Atom category: the folder of the topic pages."""
    return f"{base}topics/"


def article_url(base: str, item_id: str) -> str:
    return f"{base}articles/{item_id}.html"


def unsubscribe_url(base: str, token: str) -> str:
    """The one-click unsubscribe link of a digest (the subscriber's opaque token, or, in
    mails sent before there were such, one from feeds.tokens.sign)."""
    return f"{base}unsubscribe/{token}"


def preferences_url(base: str, token: str) -> str:
    """A subscriber's preference centre (the subscriber's opaque token)."""
    return f"{base}preferences/{token}"


def subscribe_url(base: str, topic: str | None = None) -> str:
    """The sign-up form, with a topic chosen in advance (a topic page's link)."""
    return f"{base}subscribe" + (f"?topic={topic}" if topic else "")


def feed_id(slug: str) -> str:
    """A feed's Atom id: a name-based UUID URN, stable forever."""
    return uuid.uuid5(_FEED_NAMESPACE, f"feed:{slug}").urn


def signup_url(base: str) -> str:
    """The email sign-up form (`?topic=SLUG` ticks a topic)."""
    return f"{base}subscribe"
