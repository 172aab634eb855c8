"""Dates: datelines in Russian, Ukrainian and Arabic, and no article dated after its file
arrived (issue 20, items 12 and 17)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from feeds.articles import parse_file
from tests.conftest import Env

RUSSIAN = ("Переговоры об обмене пленными возобновились\n\n{dateline} – Делегации двух стран "
           "встретились во вторник, чтобы обсудить новый обмен пленными.\n")
UKRAINIAN = ("Переговори про обмін полоненими відновилися\n\n{dateline} – Делегації двох "
             "країн зустрілися у вівторок, щоб обговорити новий обмін полоненими.\n")
ARABIC = ("استئناف محادثات تبادل الأسرى في الدوحة\n\n{dateline} - قال مسؤولون يوم الثلاثاء "
          "إن المفاوضين اجتمعوا لمناقشة تبادل جديد للأسرى.\n")


@pytest.mark.parametrize(("template", "dateline", "received", "published", "place"), [
    (RUSSIAN, "СТАМБУЛ, 2 декабря (Вестник)", "2026-12-03", "2026-12-02", "СТАМБУЛ"),
    (RUSSIAN, "МОСКВА, 30 декабря", "2027-01-02", "2026-12-30", "МОСКВА"),  # the year before
    (RUSSIAN, "СТАМБУЛ, 2 декабря 2024 г. (Вестник)", "2026-12-03", "2024-12-02", "СТАМБУЛ"),
    (RUSSIAN, "САНКТ-ПЕТЕРБУРГ, 15 мая", "2026-06-01", "2026-05-15", "САНКТ-ПЕТЕРБУРГ"),
    (UKRAINIAN, "КИЇВ, 2 грудня (Вісник)", "2026-12-03", "2026-12-02", "КИЇВ"),
    (UKRAINIAN, "ЛЬВІВ, 29 лютого", "2027-01-05", "2024-02-29", "ЛЬВІВ"),  # a leap year back
    (ARABIC, "الدوحة، 2 ديسمبر (وكالة الخليج)", "2026-12-03", "2026-12-02", "الدوحة"),
    (ARABIC, "الدوحة، ٢ ديسمبر", "2026-12-03", "2026-12-02", "الدوحة"),  # Arabic-Indic digits
    (ARABIC, "دمشق، 14 تشرين الأول (سانا)", "2026-12-03", "2026-10-14", "دمشق"),
    (ARABIC, "بيروت، ٣٠ نوفمبر/تشرين الثاني", "2026-12-03", "2026-11-30", "بيروت"),
])
def test_a_non_english_dateline_day_takes_the_english_year_rule(
        template: str, dateline: str, received: str, published: str, place: str) -> None:
    when = datetime.fromisoformat(received).replace(tzinfo=UTC)
    [article] = parse_file("story.txt", template.format(dateline=dateline).encode(), when)
    assert article.published == datetime.fromisoformat(published).replace(tzinfo=UTC)
    assert article.dateline == place
    assert not article.body[0].startswith(dateline[:4]), article.body[0]
    assert article.notes == ()


def test_arabic_text_without_a_day_or_source_is_not_a_dateline() -> None:
    text = ARABIC.format(dateline="قال الوزير")
    [article] = parse_file("story.txt", text.encode(), datetime(2026, 12, 3, tzinfo=UTC))
    assert article.dateline is None and article.body[0].startswith("قال الوزير")


def _explain_at(env: Env, name: str, text: str, received: datetime) -> dict[str, object]:
    path = env.drop(name, text)
    os.utime(path, (received.timestamp(), received.timestamp()))
    [report] = env.explain(path)
    assert report["error"] is None
    [article] = report["articles"]
    return dict(article)


ARRIVED = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
STORY = "Aid convoy reaches Rafah\n\nTwenty trucks crossed on Monday, officials said.\n"


def test_a_date_after_the_file_arrived_becomes_the_arrival_time_with_a_note(env: Env) -> None:
    article = _explain_at(env, "ahead.md", "---\ndate: 2026-12-05T12:00:00Z\n---\n" + STORY,
                          ARRIVED)
    assert article["published"] == "2026-12-03T09:00:00+00:00"
    assert article["notes"] == ["dated 2026-12-05 12:00 UTC, after the file arrived "
                                "(2026-12-03 09:00 UTC): published as of its arrival instead"]


def test_a_few_minutes_ahead_is_clock_skew_clamped_without_a_note(env: Env) -> None:
    article = _explain_at(env, "skew.md", "---\ndate: 2026-12-03T09:08:00Z\n---\n" + STORY,
                          ARRIVED)
    assert article["published"] == "2026-12-03T09:00:00+00:00"
    assert article["notes"] == []
    article = _explain_at(env, "past.md", "---\ndate: 2026-12-03T08:00:00Z\n---\n" + STORY,
                          ARRIVED)
    assert article["published"] == "2026-12-03T08:00:00+00:00" and article["notes"] == []


def test_an_embargoed_dateline_keeps_its_year_and_is_held_to_the_arrival(env: Env) -> None:
    text = ("Talks resume in Doha\n\nDOHA, Dec. 8 (Gulf Wire) - Negotiators met on Monday to "
            "discuss a truce, officials said.\n")
    article = _explain_at(env, "embargo.txt", text, ARRIVED)
    assert article["published"] == "2026-12-03T09:00:00+00:00"
    # 8 December 2026, not 2025: the dateline's year rule ran before the date was held back
    assert article["notes"] == ["dated 2026-12-08, after the file arrived "
                                "(2026-12-03 09:00 UTC): published as of its arrival instead"]


def test_tomorrows_bare_day_from_a_time_zone_ahead_is_clamped_without_a_note(env: Env) -> None:
    text = ("Talks resume in Doha\n\nDOHA, Dec. 4 (Gulf Wire) - Negotiators met on Monday to "
            "discuss a truce, officials said.\n")
    late = datetime(2026, 12, 3, 21, 30, tzinfo=UTC)  # already 4 December in Doha
    article = _explain_at(env, "tomorrow.txt", text, late)
    assert article["published"] == "2026-12-03T21:30:00+00:00" and article["notes"] == []


def test_a_future_dated_entry_is_not_published_after_its_feed_was_updated(env: Env) -> None:
    arrived = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # before the ingest, as files are
    path = env.drop("ahead.md", "---\ndate: 2027-06-01T12:00:00Z\n---\n" + STORY)
    os.utime(path, (arrived.timestamp(), arrived.timestamp()))
    env.feeds("ingest")
    feed = ET.parse(env.public / "feeds" / "all.atom").getroot()
    atom = "{http://www.w3.org/2005/Atom}"
    [entry] = feed.findall(f"{atom}entry")
    published = datetime.fromisoformat(entry.findtext(f"{atom}published") or "")
    updated = datetime.fromisoformat(feed.findtext(f"{atom}updated") or "")
    assert published == arrived
    assert published <= updated
