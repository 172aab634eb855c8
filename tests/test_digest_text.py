"""What a digest says, read the way its reader reads it: the plain-text part line by line, the
bylines, the date in the subject, the inbox preview (preheader)."""

from __future__ import annotations

import email
import email.policy
import html as html_lib
import re
import shutil
from datetime import UTC, datetime
from email.message import EmailMessage

from hypothesis import given
from hypothesis import strategies as st

from feeds.config import load_config
from feeds.digest import Digester
from feeds.digest.render import PREHEADER_CHARS, preheader
from feeds.store import Store
from tests.conftest import ROOT, Env

SAMPLES = ROOT / "samples" / "inbox"
SUBSCRIBER = "reader@example.org"


def previewed(env: Env, topics: str, *samples: str) -> EmailMessage:
    """`feeds digest preview` of a subscriber to `topics` after these samples arrived."""
    env.feeds("subscribers", "add", SUBSCRIBER, "--topics", topics)
    for name in samples:
        shutil.copy2(SAMPLES / name, env.inbox / name)
    env.feeds("ingest")
    out = env.root / "next.eml"
    env.feeds("digest", "preview", "--subscriber", SUBSCRIBER, "--out", str(out))
    message = email.message_from_bytes(out.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_entries(message: EmailMessage) -> list[list[str]]:
    """The entries of the text part: the blocks of lines between blank lines that end in an
    article link."""
    text = message.get_body(("plain",))
    assert text is not None
    blocks: list[list[str]] = [[]]
    for line in text.get_content().splitlines():
        if line:
            blocks[-1].append(line)
        else:
            blocks.append([])
    return [lines for lines in blocks if lines and "/articles/" in lines[-1]]


def test_each_text_entry_is_title_date_line_summary_and_link_on_lines_of_their_own(
        env: Env) -> None:
    message = previewed(env, "syria,gaza", *(p.name for p in SAMPLES.iterdir()))
    entries = text_entries(message)
    assert len(entries) == 5
    for title, meta, summary, link in entries:
        assert re.fullmatch(r"[1-9]\d? [A-Z][a-z]+ \d{4}( · .+)?", meta), meta
        assert summary and not summary.startswith(" ") and " · " not in summary
        assert link.startswith("http://127.0.0.1:8080/articles/") and " " not in link
        assert title and not title.startswith(" ")
    by_title = {entry[0]: entry for entry in entries}
    gaza = by_title["Mediators say Gaza truce extension is close as talks move to Cairo"]
    assert gaza[1] == "12 March 2025 · Gulf Wire, Nile Desk · by Leila Haddad, Omar Fayed"
    assert gaza[2].startswith("Egyptian and Qatari mediators said on Wednesday")


def test_a_digest_entry_names_the_byline_as_the_article_page_does(env: Env) -> None:
    message = previewed(env, "gaza", "cairo-hostage-deal.md")
    [[_title, meta, _summary, link]] = text_entries(message)
    assert meta == "12 March 2025 · Nile Desk · by Omar Fayed"
    html = message.get_body(("html",))
    assert html is not None
    assert "12 March 2025 · Nile Desk · by Omar Fayed" in html_lib.unescape(html.get_content())
    page = (env.public / link.split("8080/", 1)[1]).read_text(encoding="utf-8")
    assert "Omar Fayed, Nile Desk" in page and "12 March 2025" in page


def subject_on(env: Env, now: datetime, timezone: str) -> str:
    env.write_config(digests={"daily": {"cron": "0 7 * * *", "timezone": timezone,
                                        "subject": "{site} digest of {date}",
                                        "topics": ["gaza"]}})
    config = load_config(env.config)
    store = Store.for_config(config)
    try:
        message, _ = Digester(config, store, b"secret", clock=lambda: now).preview(SUBSCRIBER)
    finally:
        store.close()
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    return str(parsed["Subject"])


def test_the_subject_date_is_written_as_pages_write_dates_in_the_schedules_timezone(
        env: Env) -> None:
    previewed(env, "gaza", "cairo-hostage-deal.md")
    morning = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    assert subject_on(env, morning, "UTC") == "feeds digest of 3 December 2026"
    # 23:30 UTC on the 2nd is already the 3rd in Tokyo, where this schedule's readers are
    late = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
    assert subject_on(env, late, "Asia/Tokyo") == "feeds digest of 3 December 2026"
    assert subject_on(env, late, "Europe/London") == "feeds digest of 2 December 2026"


def test_the_preheader_is_cut_between_words_with_an_ellipsis(env: Env) -> None:
    message = previewed(env, "syria,gaza", *(p.name for p in SAMPLES.iterdir()))
    html = message.get_body(("html",))
    assert html is not None
    found = re.search(r'<div class="preheader"[^>]*>(.*?)</div>', html.get_content(), re.S)
    assert found is not None
    shown = html_lib.unescape(found.group(1))
    titles = "; ".join(entry[0] for entry in text_entries(message))
    assert len(titles) > PREHEADER_CHARS  # the samples' titles do not fit
    assert len(shown) <= PREHEADER_CHARS and shown.endswith("…")
    stem = shown[:-1]
    assert titles.startswith(stem) and not titles[len(stem)].isalnum()


@given(st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)),
                        max_size=90), max_size=6))
def test_any_preheader_fits_and_ends_on_a_word_boundary(titles: list[str]) -> None:
    line = "; ".join(titles)
    shown = preheader(titles)
    assert len(shown) <= PREHEADER_CHARS
    if len(line) <= PREHEADER_CHARS:
        assert shown == line
    else:
        stem = shown.removesuffix("…")
        assert shown.endswith("…") and line.startswith(stem)
        after = line[len(stem)]
        # cut at a word's end, unless the first 139 characters hold no place to cut
        assert after in ";,:" or after.isspace() or len(stem) == PREHEADER_CHARS - 1
