"""Atom documents (RFC 4287) with feedgen: current feeds and RFC 5005 archive pages.

feedgen 1.0 cannot write some of what the feeds hold; the extensions here write it straight
into its XML tree. Entries of current feeds are built once and reused while they stay the same.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds import __version__, urls
from feeds.config import Config
from feeds.models import Byline, Item
from feeds.publish.catalog import FeedSpec
from feeds.publish.content import ArticleHtml
from feeds.publish.tombstones import TOMBSTONES_NS, add_deleted_entries, newest_change
from feeds.publish.views import byline, entry_language, link_text
from feeds.store.retractions import Retraction

HISTORY_NS = "http://purl.org/syndication/history/1.0"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# The name our extensions are registered under (feedgen sets it as an attribute of the feed
# and of each entry); it appears nowhere in the document.
EXTENSION = "written_directly"
# A feed with no entries says it was updated at this fixed moment, never at the build time.
EMPTY_FEED_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)


class EntryParts(BaseEntryExtension):  # type: ignore[misc]
    """An entry's author, categories and <link rel="related">, written straight into the
    entry: feedgen drops `rel` on entry links (lkiesow/python-feedgen#135), which turns them
    into duplicate alternates, and its per-call argument checks cost more than the rest of
    an entry (these values are built here, never taken from input unchecked)."""

    def __init__(self) -> None:
        self.author: str | None = None  # None: the feed's author covers the entry
        self.language: str | None = None  # xml:lang, when not the feed's
        self.categories: list[tuple[str, str, str]] = []  # (term, label, scheme)
        self.links: list[tuple[str, str]] = []  # (href, title)

    def extend_atom(self, entry: Any) -> Any:
        if self.language:
            entry.set(XML_LANG, self.language)
        if self.author:
            etree.SubElement(etree.SubElement(entry, "author"), "name").text = self.author
        for term, label, scheme in self.categories:
            etree.SubElement(entry, "category", term=term, label=label, scheme=scheme)
        for href, title in self.links:
            etree.SubElement(entry, "link", rel="related", type="text/html", href=href,
                             title=title)
        return entry


class ReusableEntry(FeedEntry):  # type: ignore[misc]
    """A feed entry whose Atom element is built once and copied into each feed that lists
    it: most entries of a feed are the same from one publish to the next."""

    def __init__(self) -> None:
        super().__init__()
        self._element: Any = None

    def atom_entry(self, extensions: bool = True) -> Any:
        if self._element is None:  # the first feed takes the element itself
            self._element = super().atom_entry(extensions)
            return self._element
        return copy.deepcopy(self._element)  # later ones a copy (it stays in the first)


class CurrentFeedMarker(BaseExtension):  # type: ignore[misc]
    """What a feed document adds of its own: the tombstones of the retracted articles it
    listed (RFC 6721), the namespace declared only when there are some."""

    def __init__(self) -> None:
        self.tombstones: Sequence[Retraction] = ()
        self.base = ""

    def extend_ns(self) -> dict[str, str]:
        return {"at": TOMBSTONES_NS} if self.tombstones else {}

    def extend_atom(self, feed: Any) -> Any:
        add_deleted_entries(feed, self.tombstones, self.base)
        return feed


class ArchiveMarker(CurrentFeedMarker):
    """<fh:archive/> marks an RFC 5005 archive document."""

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS, **super().extend_ns()}

    def extend_atom(self, feed: Any) -> Any:
        feed.insert(0, etree.Element(f"{{{HISTORY_NS}}}archive"))
        return super().extend_atom(feed)


class AtomBuilder:
    """Atom documents of the site's feeds. Keeps the entries of current feeds between
    publishes: an entry is rebuilt only when something it shows changed."""

    def __init__(self, config: Config, content: ArticleHtml) -> None:
        self.config = config
        self.base = config.site.base_url
        self.content = content
        self.topic_titles = {slug: t.title for slug, t in config.topics.items()}
        self.scheme = urls.topic_scheme(self.base)
        self._entries: dict[tuple[Any, ...], ReusableEntry] = {}
        self._used: set[tuple[Any, ...]] = set()  # keys of the entries used since the last drop

    def forget(self) -> None:
        self._entries.clear()

    def drop_unused_entries(self, keep_at_most: int) -> None:
        """Past `keep_at_most` kept entries, drop those no feed used since the last call."""
        if len(self._entries) > keep_at_most:
            self._entries = {key: self._entries[key] for key in self._used
                             if key in self._entries}
        self._used = set()

    def build(self, spec: FeedSpec, items: Sequence[Item], *, prev_archive: str | None = None,
              archive_page: int | None = None,
              related: Mapping[str, Byline] | None = None,
              tombstones: Sequence[Retraction] = ()) -> bytes:
        """The feed document of `items` (newest first). A current feed (no `archive_page`)
        links its entries to the other reports of their stories in `related`. `tombstones`:
        the retracted articles whose places it covers."""
        site = self.config.site
        fg = FeedGenerator()
        fg.register_extension(EXTENSION, ArchiveMarker if archive_page else CurrentFeedMarker,
                              EntryParts, atom=True, rss=False)
        marker = getattr(fg, EXTENSION)
        marker.tombstones, marker.base = tombstones, self.base
        fg.id(urls.feed_id(spec.slug))
        fg.title(spec.title if archive_page is None else f"{spec.title} (archive {archive_page})")
        fg.subtitle(spec.description)
        fg.author({"name": site.author})
        fg.language(site.language)
        fg.generator("feeds", version=__version__)
        self_url = (urls.archive_url(self.base, spec.slug, archive_page) if archive_page
                    else spec.atom_url)
        fg.link(href=self_url, rel="self", type="application/atom+xml")
        fg.link(href=spec.page_url, rel="alternate", type="text/html")
        if archive_page:
            fg.link(href=spec.atom_url, rel="current", type="application/atom+xml")
            # Always present, so a full page never changes; the newest page's link resolves
            # once the next page fills (readers walk back from the subscription document).
            fg.link(href=urls.archive_url(self.base, spec.slug, archive_page + 1),
                    rel="next-archive", type="application/atom+xml")
        if prev_archive:
            fg.link(href=prev_archive, rel="prev-archive", type="application/atom+xml")
        if self.config.websub.hub and not archive_page:
            fg.link(href=self.config.websub.hub, rel="hub")
        fg.updated(newest_change(max((i.updated for i in items), default=EMPTY_FEED_UPDATED),
                                 tombstones))
        # feedgen prepends each new entry; add oldest first so the document is newest first.
        for item in reversed(items):
            if archive_page is not None:
                # A full archive page never changes unless one of its own articles is
                # edited, so its entries carry no story links: those grow as later reports
                # join (the article pages and the current feed show them). Archive pages are
                # seldom built twice: their entries are not kept.
                self._fill_entry(fg.add_entry(), item, ())
                continue
            assert related is not None
            links = tuple((urls.article_url(self.base, other), link_text(related[other]))
                          for other in item.related if other in related)
            # everything the entry shows: the stored version, its topics, its story's links
            key = (item.id, item.updated, item.language, tuple(m.slug for m in item.topics),
                   links)
            entry = self._entries.get(key)
            if entry is None:  # adding registers the feed's entry extension on it
                entry = self._entries[key] = self._fill_entry(fg.add_entry(ReusableEntry()),
                                                              item, links)
            else:
                fg.add_entry(entry)  # keeps the extension it has
            self._used.add(key)
        document: bytes = fg.atom_str(pretty=True)
        return document

    def _fill_entry(self, entry: FeedEntry, item: Item,
                    links: Sequence[tuple[str, str]]) -> Any:
        """The entry (just added to a feed) filled in from the item."""
        entry.id(item.entry_id)
        entry.title(item.title)
        entry.published(item.published)
        entry.updated(item.updated)
        entry.link(href=urls.article_url(self.base, item.id), rel="alternate",
                   type="text/html")
        parts = getattr(entry, EXTENSION)
        # RFC 4287 4.2.1: an entry without an author has the feed's, so the site's name is
        # not repeated as if it were a byline
        parts.author = byline(item) or None
        parts.language = entry_language(item, self.config.site.language)
        parts.links.extend(links)
        parts.categories.extend(
            (match.slug, self.topic_titles[match.slug], self.scheme)
            for match in item.topics if match.slug in self.topic_titles)
        entry.summary(item.summary or item.title)
        entry.content(self.content.of(item), type="html")
        return entry
