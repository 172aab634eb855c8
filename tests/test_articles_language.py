"""The language of each article, as `feeds explain --json` reports it (issue 20, item 17)."""

from __future__ import annotations

import time

from feeds.articles import parse_file
from tests.conftest import Env

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


def test_detecting_the_language_is_cheap_once_the_model_is_loaded() -> None:
    data = (ENGLISH * 20).encode()
    parse_file("warm.txt", data)
    start = time.process_time()
    for _ in range(20):
        parse_file("story.txt", data)
    per_article = (time.process_time() - start) / 20
    assert per_article < 0.05, per_article  # the whole parse; detection is ~1 ms of it
