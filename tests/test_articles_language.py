"""The language of each article, as `feeds explain --json` reports it (issue 20, item 17)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from feeds.articles import parse_file
from feeds.articles.languages import plainly_english
from tests.conftest import Env

ROOT = Path(__file__).resolve().parents[1]
ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

ENGLISH = ("Harbour reopens after storm\n\nThe harbour reopened on Monday after two weeks of "
           "repairs, and officials said ships would dock within hours.\n")
RUSSIAN = ("Порт вновь открылся после шторма\n\nПорт возобновил работу в понедельник после двух "
           "недель ремонта, сообщили официальные лица.\n")
UKRAINIAN = ("Порт знову відкрився після шторму\n\nПорт відновив роботу в понеділок після двох "
             "тижнів ремонту, повідомили посадовці.\n")
ARABIC = ("إعادة فتح الميناء بعد العاصفة\n\nأعيد فتح الميناء يوم الاثنين بعد أسبوعين من "
          "الإصلاحات، وقال مسؤولون إن السفن سترسو خلال ساعات.\n")
FRENCH = ("Le port rouvre après la tempête\n\nLe port a rouvert lundi après deux semaines de "
          "travaux, et les autorités ont indiqué que les navires accosteraient bientôt.\n")


def test_each_article_reports_its_language(env: Env) -> None:
    paths = [env.drop(f"{name}.txt", text) for name, text in
             (("en", ENGLISH), ("ru", RUSSIAN), ("uk", UKRAINIAN), ("ar", ARABIC),
              ("fr", FRENCH))]
    reports = env.explain(*paths)
    found = {report["path"].rsplit("/", 1)[-1]: report["articles"][0]["language"]
             for report in reports}
    assert found == {"en.txt": "en", "ru.txt": "ru", "uk.txt": "uk", "ar.txt": "ar",
                     "fr.txt": "fr"}


def test_a_cp1251_russian_file_is_russian_not_english(env: Env) -> None:
    [report] = env.explain(env.drop("ru.txt", RUSSIAN.encode("cp1251")))
    assert report["articles"][0]["language"] == "ru"


def test_too_little_text_to_be_sure_has_no_language() -> None:
    [article] = parse_file("short.txt", b"Port reopens\n\nShips dock again today.\n")
    assert article.language is None


def test_each_story_of_a_file_has_its_own_language() -> None:
    more = ("\nВ ближайшие дни в порт должны зайти десятки судов, которые ждали окончания "
            "ремонта у соседнего побережья, а грузы распределят по складам города.\n")
    text = ENGLISH + "\nMore ships are due this week." * 5 + "\n\n\n\n" + RUSSIAN + more
    first, second = parse_file("two.txt", text.encode())
    assert (first.language, second.language) == ("en", "ru")


GERMAN = ("Der Hafen wurde am Montag nach zwei Wochen Reparaturarbeiten wieder geöffnet, und die "
          "Behörden sagten, die Schiffe würden in wenigen Stunden anlegen. In der Stadt ist ein "
          "neues Programm angekündigt, das in diesem Jahr beginnen soll.\n")
DUTCH = ("De haven is maandag na twee weken reparatie weer open en de autoriteiten zeiden dat de "
         "schepen binnen enkele uren aanmeren. In de stad is een nieuw programma aangekondigd "
         "dat dit jaar begint, zo meldde een woordvoerder op maandag.\n")


def test_the_english_shortcut_never_takes_another_language_for_english() -> None:
    """The function-word shortcut answers only for English; the model answers the rest."""
    for text in (RUSSIAN, UKRAINIAN, ARABIC, FRENCH, GERMAN, DUTCH):
        assert not plainly_english(text * 3), text
    assert plainly_english(ENGLISH * 2)
    [german] = parse_file("de.txt", ("Hafen wieder offen\n\n" + GERMAN * 2).encode())
    [dutch] = parse_file("nl.txt", ("Haven weer open\n\n" + DUTCH * 2).encode())
    assert (german.language, dutch.language) == ("de", "nl")


def test_the_english_shortcut_agrees_with_the_model_on_the_dev_corpus() -> None:
    dev = ROOT.parent / "shared" / "corpus" / "dev" / "summ.jsonl"
    if not dev.exists():
        pytest.skip("needs ../shared/corpus/dev")
    langid = importlib.import_module("py3langid.langid")
    model = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)
    samples = [json.loads(line)["article"][:600] for line in dev.read_text().splitlines()]
    english = [s for s in samples if plainly_english(s)]
    assert len(english) >= 0.9 * len(samples)  # the shortcut does its job
    assert {model.classify(s)[0] for s in english} == {"en"}


def test_pages_and_feed_entries_say_an_article_s_own_language(env: Env) -> None:
    """A Russian article in an English site: its page is `lang="ru"`, its entry in the feed
    `xml:lang="ru"`, its line on the front page `lang="ru"`; English ones carry the site's."""
    env.drop("ru.txt", RUSSIAN.encode("cp1251"))
    env.drop("en.txt", ENGLISH)
    env.feeds("ingest")
    [ru_id] = [r[0] for r in env.sql("SELECT id FROM articles WHERE language = 'ru'")]
    [en_id] = [r[0] for r in env.sql("SELECT id FROM articles WHERE language = 'en'")]
    ru_page = (env.public / "articles" / f"{ru_id}.html").read_text(encoding="utf-8")
    en_page = (env.public / "articles" / f"{en_id}.html").read_text(encoding="utf-8")
    assert '<html lang="ru">' in ru_page and '<html lang="en">' in en_page
    feed = ElementTree.parse(env.public / "feeds" / "all.atom").getroot()
    assert feed.get(XML_LANG) == "en"
    langs = {entry.findtext(f"{ATOM}title"): entry.get(XML_LANG)
             for entry in feed.iter(f"{ATOM}entry")}
    assert langs == {"Порт вновь открылся после шторма": "ru",
                     "Harbour reopens after storm": None}  # the feed's language covers it
    index = (env.public / "index.html").read_text(encoding="utf-8")
    assert '<li lang="ru">' in index and index.count("<li lang=") == 1
