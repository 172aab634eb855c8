"""What a reader of the HTML pages sees: a story listed once with its other reports, an
article's summary printed once, and a page for the articles in no topic."""

from __future__ import annotations

import re
import shutil

import feedparser

from feeds.models import article_id, article_key
from feeds.publish.views import summary_opens_body
from tests.conftest import HARBOUR, ROOT, Env
from tests.publishing import FILLERS, snapshot, story

SAMPLES = ROOT / "samples" / "inbox"
DOHA = "Qatar and Egypt Press Both Sides to Extend Gaza Truce as Aid Stalls"
CAIRO = "Mediators say Gaza truce extension is close as talks move to Cairo"


def page(env: Env, relative: str) -> str:
    return (env.public / relative).read_text(encoding="utf-8")


def entries(html: str) -> list[str]:
    """The list entries of a topic page or the front page."""
    return re.findall(r"<li\b.*?</li>", html, re.S)


def article_url(name: str) -> str:
    return f"http://127.0.0.1:8080/articles/{article_id(article_key(name, 0))}.html"


def test_a_story_is_listed_once_with_links_to_its_other_reports(env: Env) -> None:
    for name in ("doha-truce-talks.txt", "cairo-hostage-deal.md"):
        shutil.copy2(SAMPLES / name, env.inbox / name)
    env.feeds("ingest")
    for html in (page(env, "topics/gaza.html"), page(env, "index.html")):
        [entry] = [e for e in entries(html) if "Gaza" in e]
        # the newest report leads; the earlier one is a link beside it, not a second entry
        assert CAIRO in entry and DOHA not in html
        assert "Omar Fayed, Nile Desk" in entry
        assert (f'also: <a href="{article_url("doha-truce-talks.txt")}">Leila Haddad, '
                f'Gulf Wire</a>') in entry
    # the feeds still carry every report: a reader of the feed sees both
    titles = [e.title for e in feedparser.parse(
        (env.public / "feeds" / "gaza.atom").read_bytes()).entries]
    assert titles == [CAIRO, DOHA]


def test_the_article_page_prints_a_summary_that_opens_the_body_once(env: Env) -> None:
    env.drop("harbour.txt", HARBOUR)
    env.feeds("ingest")
    html = page(env, f"articles/{article_id(article_key('harbour.txt', 0))}.html")
    opening = "The harbour reopened on Monday after two weeks of repairs."
    assert html.count(opening) == 1
    assert 'class="summary"' not in html


def test_a_summary_is_not_the_opening_when_the_body_does_not_start_with_it() -> None:
    body = ("The harbour reopened on Monday. Officials said ships would dock within hours.",
            "A backlog of vessels should clear by the end of the week.")
    assert summary_opens_body("The harbour reopened on Monday.", body)
    assert summary_opens_body("The harbour reopened on Monday. Officials said ships…", body)
    assert summary_opens_body("The harbour reopened on Monday. Officials said ships would "
                              "dock within hours. A backlog of vessels", body)
    assert not summary_opens_body("A backlog of vessels should clear by the end of the week.",
                                  body)
    assert not summary_opens_body("", body)


def test_articles_in_no_topic_have_a_page_linked_from_the_front_page(env: Env) -> None:
    env.drop("storm.txt", FILLERS[0])
    env.drop("museum.txt", FILLERS[2])
    env.drop("aleppo.txt", story("Aid reaches Aleppo"))
    env.feeds("ingest")
    other = page(env, "topics/other.html")
    assert "<h1>Other news</h1>" in other
    listed = entries(other)
    assert len(listed) == 2 and "Aid reaches Aleppo" not in other
    assert article_url("storm.txt") in other and article_url("museum.txt") in other
    index = page(env, "index.html")
    assert 'href="http://127.0.0.1:8080/topics/other.html">Other news</a>' in index
    assert "Storm closes mountain roads" in index
    feed = feedparser.parse((env.public / "feeds" / "all.atom").read_bytes())
    assert feed.feed.title == "feeds: all news"
    # kept by a full publish, which changes nothing; a new one in no topic joins the page
    before = snapshot(env.public)
    env.feeds("publish")
    assert snapshot(env.public) == before
    env.drop("cup.txt", FILLERS[3])
    env.feeds("ingest")
    assert "Cup final goes to penalties" in page(env, "topics/other.html")


def test_an_other_news_page_gives_way_to_a_topic_called_other(env: Env) -> None:
    env.write_config(topics={"other": {"title": "Other", "terms": {"museum": 5.0},
                                       "threshold": 4.0}})
    env.drop("storm.txt", FILLERS[0])
    env.drop("museum.txt", FILLERS[2])
    env.feeds("ingest")
    assert "Museum reopens" in page(env, "topics/other.html")
    assert "Storm closes" not in page(env, "topics/other.html")
    assert "Storm closes" in page(env, "topics/other-news.html")



def test_links_to_reports_from_one_source_say_which_report_each_is(env: Env) -> None:
    """Three reports of one story, all from Gulf Wire without an author: the links beside the
    lead would all read "Gulf Wire"; each adds its title."""
    text = (SAMPLES / "doha-truce-talks.txt").read_text(encoding="utf-8")
    text = text.replace("By Leila Haddad\n", "")
    titles = [DOHA, "Mediators in Doha push for longer Gaza truce",
              "Gaza truce talks in Doha go into a second day"]
    for number, title in enumerate(titles):
        env.drop(f"doha-{number}.txt", text.replace(DOHA, title).replace(
            "14:20 GMT", f"14:2{number} GMT"))
    env.feeds("ingest")
    [entry] = [e for e in entries(page(env, "topics/gaza.html")) if "Gaza" in e]
    assert titles[2] in entry  # the newest leads
    assert f">Gulf Wire: {titles[0]}</a>" in entry and f">Gulf Wire: {titles[1]}</a>" in entry
    assert ">Gulf Wire</a>" not in entry
