"""The HTML pages (Jinja2): one per article, one per topic, the front page; and the OPML list
written with them."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feeds import urls
from feeds.config import Config
from feeds.models import Byline, Item
from feeds.publish import views
from feeds.publish.catalog import FeedSpec, other_spec
from feeds.publish.listings import Listings
from feeds.publish.opml import opml
from feeds.publish.output import PublicFolder, PublishReport
from feeds.render import PageTemplates

MAX_PAGE_DELAY = 2.0  # seconds a paused publish may leave topic pages and the front page
FRONT_PAGE_STORIES = 5  # stories of each topic on the front page


@dataclass
class PutOffPages:
    """Pages a publish has still to write: these siblings' pages, these topics' pages (None:
    all of them), and always the front page."""
    siblings: set[str]
    topics: set[str] | None
    since: float = field(default_factory=time.monotonic)  # when they were first put off

    def merge(self, other: PutOffPages) -> PutOffPages:
        topics = None if self.topics is None or other.topics is None \
            else self.topics | other.topics
        return PutOffPages(self.siblings | other.siblings, topics,
                           min(self.since, other.since))


class Pages:
    def __init__(self, config: Config, specs: Sequence[FeedSpec], listings: Listings,
                 public: PublicFolder) -> None:
        assert config.paths.templates is not None
        self.site = config.site
        self.base = config.site.base_url
        self.specs = specs
        self.spec_of = {spec.slug: spec for spec in specs}
        self.topic_slugs = [spec.slug for spec in specs[1:]]
        self.other = other_spec(config)
        self.other_path = urls.topic_page_path(self.other.slug)
        self.listings = listings
        self.public = public
        self.templates = PageTemplates(config.paths.templates)
        self.versions: list[tuple[str, datetime]] = []  # article pages written, not recorded
        # the email sign-up form (/subscribe, served by the daemon), when there are digests
        self.signup_url = urls.signup_url(self.base) if config.digests else None

    def topic(self, spec: FeedSpec, items: Sequence[Item], titles: Mapping[str, Byline],
              limit: int | None = None) -> dict[str, Any]:
        return views.topic_view(self.base, spec, items, titles, self.site.language, limit)

    def take_versions(self) -> list[tuple[str, datetime]]:
        """The article versions whose pages were written since the last call."""
        versions, self.versions = self.versions, []
        return versions

    def warm_up(self) -> None:
        """The templates a new article's publish renders, compiled now."""
        self.templates.compile(("article.html", "topic.html", "index.html", "other.html"))

    def render(self, template: str, **context: Any) -> bytes:
        values: dict[str, Any] = {
            "site": self.site, "feeds": self.specs, "signup_url": self.signup_url,
            "topics": [views.topic_view(self.base, spec, [], {}) for spec in self.specs[1:]]}
        values.update(context)
        return self.templates.render(template, values).encode("utf-8")

    def write_articles(self, items: Sequence[Item], report: PublishReport) -> None:
        """Article pages, staged: the next commit puts them in place before what is staged
        after them (the feeds that link to them), and makes them durable together with it,
        one wait for the disk instead of two before a new entry is served."""
        related = self.listings.related(items)
        for item in items:
            self.write_article(item, related, report)
        self.versions += [(item.id, item.updated) for item in items]

    def write_article(self, item: Item, related: Mapping[str, Byline],
                      report: PublishReport) -> None:
        view = views.article_view(self.base, item, related, self.spec_of, self.site.language)
        self.public.write(urls.article_page_path(item.id),
                          self.render("article.html", article=view), report)

    def write_listings(self, pages: PutOffPages, current: dict[str, list[Item]],
                       titles: dict[str, Byline], report: PublishReport,
                       pause: Callable[[], bool] | None) -> PutOffPages | None:
        """Siblings' pages (their "also reported by" lists), topic pages, the front page
        and the OPML list, asking `pause` before each; returns what is left when it said
        yes. `current` holds the feeds' items read already, `titles` their stories' other
        reports; both gain what this reads."""
        def listed(spec: FeedSpec) -> list[Item]:
            if spec.slug not in current:
                current[spec.slug] = self.listings.feed_items(spec, titles)
            return current[spec.slug]

        def paused() -> bool:
            # never put off for long: a steady stream of files must not starve these pages
            return (pause is not None and time.monotonic() - pages.since < MAX_PAGE_DELAY
                    and pause())

        if pages.siblings:
            if paused():
                return pages
            items = self.listings.items(ids=pages.siblings)
            related = self.listings.related(items)
            if pages.topics is not None:  # the stories their listings show changed too
                pages.topics.update(slug for item in items for slug in item.topic_slugs)
            for item in items:
                if paused():
                    return pages
                self.write_article(item, related, report)
                pages.siblings.discard(item.id)
            pages.siblings.clear()  # the rest are no longer stored
        todo = [spec for spec in self.specs[1:] if self.public.needs_rebuild(
            spec.slug, pages.topics, urls.topic_page_path(spec.slug))]
        pages.topics = {spec.slug for spec in todo}
        for spec in todo:
            if paused():
                return pages
            self.public.write(urls.topic_page_path(spec.slug), self.render(
                "topic.html", topic=self.topic(spec, listed(spec), titles)), report)
            pages.topics.discard(spec.slug)
        for spec in self.specs[1:]:  # the front page lists every topic: read them first
            if spec.slug not in current:
                if paused():
                    return pages
                listed(spec)
        if paused():
            return pages
        # Articles in no topic: listed on a page of their own, read each time (a new one
        # adds no topic to what a publish knows changed)
        other = self.topic(self.other, self.listings.other_items(self.topic_slugs, titles),
                           titles)
        self.public.write(self.other_path, self.render("other.html", topic=other), report)
        self.public.write(urls.INDEX, self.render(
            "index.html", topics=[self.topic(spec, listed(spec), titles, FRONT_PAGE_STORIES)
                                  for spec in self.specs[1:]],
            other={**other, "entries": other["entries"][:FRONT_PAGE_STORIES]}), report)
        self.public.write(urls.OPML, opml(self.site.title, self.specs), report)
        return None
