"""The feeds the site offers: "all" first, then one per configured topic, in config order."""

from __future__ import annotations

from dataclasses import dataclass

from feeds import urls
from feeds.config import Config
from feeds.urls import ALL


@dataclass(frozen=True, slots=True)
class FeedSpec:
    slug: str
    title: str
    description: str
    atom_url: str
    json_url: str
    page_url: str


def feed_specs(config: Config) -> list[FeedSpec]:
    site, base = config.site, config.site.base_url
    specs = [FeedSpec(ALL, f"{site.title}: all topics", site.description,
                      urls.feed_url(base, ALL), urls.json_feed_url(base, ALL),
                      urls.topic_page_url(base, ALL))]
    for slug, topic in config.topics.items():
        specs.append(FeedSpec(slug, f"{site.title}: {topic.title}",
                              topic.description or topic.title,
                              urls.feed_url(base, slug), urls.json_feed_url(base, slug),
                              urls.topic_page_url(base, slug)))
    return specs
