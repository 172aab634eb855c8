"""Month names of the non-English copy we read (Russian, Ukrainian, Arabic), for datelines.

Datelines write the day in the genitive ("2 декабря", "2 грудня") or, in Arabic, with the
Egyptian or the Levantine name ("2 ديسمبر", "2 كانون الأول", often both: "2 ديسمبر/كانون الأول")
and perhaps Arabic-Indic digits ("٢ ديسمبر"). `to_english` rewrites such a day as "2 December",
which the English date rules then read, with the same year rule.
"""

from __future__ import annotations

import re

_ENGLISH = ("January", "February", "March", "April", "May", "June", "July", "August",
            "September", "October", "November", "December")

# Genitive first (how a date is written), then the nominative some copy uses.
_RUSSIAN = ("января январь", "февраля февраль", "марта март", "апреля апрель", "мая май",
            "июня июнь", "июля июль", "августа август", "сентября сентябрь",
            "октября октябрь", "ноября ноябрь", "декабря декабрь")
_UKRAINIAN = ("січня січень", "лютого лютий", "березня березень", "квітня квітень",
              "травня травень", "червня червень", "липня липень", "серпня серпень",
              "вересня вересень", "жовтня жовтень", "листопада листопад", "грудня грудень")
_ARABIC = ("يناير", "فبراير", "مارس", "أبريل|إبريل|ابريل", "مايو", "يونيو|يونيه",
           "يوليو|يوليه", "أغسطس|اغسطس", "سبتمبر", "أكتوبر|اكتوبر", "نوفمبر", "ديسمبر")
_LEVANTINE = ("كانون الثاني", "شباط", "آذار", "نيسان", "أيار|ايار", "حزيران", "تموز",
              "آب", "أيلول|ايلول", "تشرين الأول|تشرين الاول", "تشرين الثاني",
              "كانون الأول|كانون الاول")


def _names() -> dict[str, int]:
    names: dict[str, int] = {}
    for table in (_RUSSIAN, _UKRAINIAN):
        for month, forms in enumerate(table, 1):
            names.update((form, month) for form in forms.split())
    for table in (_ARABIC, _LEVANTINE):
        for month, forms in enumerate(table, 1):
            names.update((form, month) for form in forms.split("|"))
    return names


MONTH_NUMBERS = _names()
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_DIGIT = r"[0-9٠-٩۰-۹]"
# Longest first, so "كانون الأول" is not read as a bare "كانون".
_NAME = "|".join(sorted(map(re.escape, MONTH_NUMBERS), key=len, reverse=True))
# "2 декабря", "2 декабря 2026 г.", "٢ ديسمبر/كانون الأول ٢٠٢٦": no word may follow the name.
DAY = (rf"{_DIGIT}{{1,2}}\s+(?:{_NAME})(?![\w])(?:\s*/\s*(?:{_NAME})(?![\w]))?"
       rf"(?:\s+{_DIGIT}{{4}}(?:\s*(?:г\.|р\.|року|года|م)(?![\w]))?)?")
_DAY = re.compile(rf"^\s*(?P<day>{_DIGIT}{{1,2}})\s+(?P<month>{_NAME})(?![\w])"
                  rf"(?:\s*/\s*(?:{_NAME})(?![\w]))?(?:\s+(?P<year>{_DIGIT}{{4}}))?")


def to_english(value: str) -> str | None:
    """ "2 декабря" -> "2 December", "٢ ديسمبر ٢٠٢٦" -> "2 December 2026"; None when `value`
    does not start with a day and one of these month names."""
    match = _DAY.match(value)
    if match is None:
        return None
    day = match.group("day").translate(_DIGITS)
    month = _ENGLISH[MONTH_NUMBERS[match.group("month")] - 1]
    year = match.group("year")
    return f"{day} {month} {year.translate(_DIGITS)}" if year else f"{day} {month}"
