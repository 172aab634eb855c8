"""Output paths and URLs: each URL is the base URL followed by the path of its file."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from feeds import urls
from feeds.tokens import sign, verify

BASE = "https://news.example.org/site/"


@pytest.mark.parametrize("slug", ["all", "syria", "ukraine-mediation"])
def test_every_feed_url_names_the_file_written_for_it(slug: str) -> None:
    assert urls.feed_url(BASE, slug) == BASE + urls.feed_path(slug).as_posix()
    assert urls.json_feed_url(BASE, slug) == BASE + urls.json_feed_path(slug).as_posix()
    for page in (1, 2, 17):
        assert urls.archive_url(BASE, slug, page) == BASE + urls.archive_path(
            slug, page).as_posix()


def test_a_topic_page_url_names_its_file_and_the_all_feed_page_is_the_front_page() -> None:
    assert urls.topic_page_url(BASE, "gaza") == BASE + urls.topic_page_path("gaza").as_posix()
    assert urls.topic_page_url(BASE, urls.ALL) == BASE + urls.INDEX.as_posix()
    assert urls.topic_scheme(BASE) == BASE + urls.topic_page_path("x").parent.as_posix() + "/"


def test_an_article_url_names_its_page() -> None:
    assert urls.article_url(BASE, "0123abcd") == BASE + urls.article_page_path(
        "0123abcd").as_posix()


def test_every_written_path_is_in_a_folder_and_with_a_suffix_publish_may_prune() -> None:
    for path in (urls.feed_path("a"), urls.json_feed_path("a"), urls.archive_path("a", 3),
                 urls.topic_page_path("a"), urls.article_page_path("a")):
        assert path.parts[0] in urls.OUTPUT_FOLDERS
        assert path.name.endswith(urls.OUTPUT_SUFFIXES)


def test_the_unsubscribe_link_carries_a_token_that_verifies() -> None:
    secret = b"s" * 32
    link = urls.unsubscribe_url(BASE, sign(secret, "reader@example.org"))
    path = urlsplit(link).path
    assert link.startswith(BASE) and path.startswith("/site/unsubscribe/")
    assert verify(secret, path.rsplit("/", 1)[1]) == "reader@example.org"


def test_feed_ids_never_change() -> None:
    """Feed readers key subscriptions on the id: this is the one every published all.atom
    has carried, whatever the base URL."""
    assert urls.feed_id("all") == "urn:uuid:9ca3aef0-451d-585e-937c-2fa12fc82d7f"
    assert urls.feed_id("syria") != urls.feed_id("gaza")
