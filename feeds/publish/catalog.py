"""The feeds the site offers: "all" first, then one per configured topic, in config order;
and the page of the articles in none of them."""

from __future__ import annotations

from dataclasses import dataclass

from feeds import urls
from feeds.config import Config
from feeds.urls import ALL, OTHER


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
    specs = [FeedSpec(ALL, f"{site.title}: all news", site.description,
                      urls.feed_url(base, ALL), urls.json_feed_url(base, ALL),
                      urls.topic_page_url(base, ALL))]
    for slug, topic in config.topics.items():
        specs.append(FeedSpec(slug, f"{site.title}: {topic.title}",
                              topic.description or topic.title,
                              urls.feed_url(base, slug), urls.json_feed_url(base, slug),
                              urls.topic_page_url(base, slug)))
    return specs


def other_spec(config: Config) -> FeedSpec:
    """The page of the articles in no topic ("Other news"). It has no feed of its own: the
    feed of all news holds them. Its slug is "other", unless a topic is called that."""
    site, base = config.site, config.site.base_url
    slug = OTHER
    while slug in config.topics or slug == ALL:
        slug += "-news"
    return FeedSpec(slug, f"{site.title}: Other news", "News in none of the topics.",
                    urls.feed_url(base, ALL), urls.json_feed_url(base, ALL),
                    urls.topic_page_url(base, slug))
