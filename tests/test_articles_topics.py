"""Topics an article names itself (front matter, a JSON "topics" key) are the only ones on
`Article.topics`, so later stages can tell them from the rules' (issue 20, item 10)."""

from __future__ import annotations

import json

from feeds.articles import parse_file

BODY = "Twenty trucks crossed into Syria on Monday, officials said.\n\nMore were expected.\n"


def test_front_matter_topics_are_kept_as_named() -> None:
    data = "---\ntitle: Aid convoy crosses\ntopics: [Syria, Aid]\n---\n" + BODY
    [article] = parse_file("a.md", data.encode())
    assert article.topics == ("syria", "aid")


def test_json_tags_are_the_article_s_own_topics() -> None:
    data = json.dumps({"headline": "Aid convoy crosses", "tags": "Syria, aid", "body": BODY})
    [article] = parse_file("a.json", data.encode())
    assert article.topics == ("syria", "aid")


def test_a_file_that_names_no_topic_has_none_whatever_its_words() -> None:
    [article] = parse_file("a.txt", ("Aid convoy crosses into Syria\n\n" + BODY).encode())
    assert article.topics == ()
