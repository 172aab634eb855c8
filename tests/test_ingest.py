"""`feeds ingest` and `feeds status` through the console script, on real files and SQLite."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

from tests.conftest import DATA, SEEDS, Env, needs_shared, sqlite_only

STORY = ("Harbour reopens after storm\n\nBy Ana Costa\n\nLISBON (Harbour Wire) - The harbour "
         "reopened on Monday after two weeks of repairs. Officials said ships would dock "
         "within hours.\n\nA backlog of vessels should clear by the end of the week.\n")


def rows(env: Env, sql: str) -> list[tuple[object, ...]]:
    return env.sql(sql)


def digest_of_inbox(env: Env) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(env.inbox)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                            p.stat().st_mtime_ns)
            for p in sorted(env.inbox.rglob("*")) if p.is_file()}


def test_ingest_stores_articles_and_is_idempotent(env: Env) -> None:
    env.drop("harbour.txt", STORY)
    env.drop("nested/deeper/second.md", "# Second story here\n\nWith a body of a few words.\n")
    first = env.feeds("ingest", "--no-publish")
    assert "2 new" in first.stdout, first.stdout
    before = rows(env, "select id, key, updated from articles order by key")
    assert [r[1] for r in before] == ["harbour.txt#0", "nested/deeper/second.md#0"]
    again = env.feeds("ingest", "--no-publish")
    assert "0 new, 0 updated, 2 unchanged" in again.stdout
    assert rows(env, "select id, key, updated from articles order by key") == before


def test_edit_keeps_the_id_and_moves_updated(env: Env) -> None:
    path = env.drop("harbour.txt", STORY)
    env.feeds("ingest", "--no-publish")
    [(article_id, updated, published)] = rows(env, "select id, updated, published from articles")
    time.sleep(0.01)
    path.write_text(STORY.replace("two weeks", "three weeks"), encoding="utf-8")
    result = env.feeds("ingest", "--no-publish")
    assert "1 updated" in result.stdout
    [(same_id, new_updated, same_published)] = rows(
        env, "select id, updated, published from articles")
    assert same_id == article_id
    assert new_updated > updated
    assert same_published == published  # undated: keeps the date it was first stored with
    [(body,)] = rows(env, "select body from articles")
    assert "three weeks" in str(body)


def test_touch_without_change_does_nothing(env: Env) -> None:
    path = env.drop("harbour.txt", STORY)
    env.feeds("ingest", "--no-publish")
    before = rows(env, "select id, updated from articles")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    assert "0 new, 0 updated, 1 unchanged" in env.feeds("ingest", "--no-publish").stdout
    assert rows(env, "select id, updated from articles") == before


def test_same_bytes_under_another_name_is_a_duplicate(env: Env) -> None:
    env.drop("a/harbour.txt", STORY)
    env.drop("b/harbour-copy.txt", STORY)
    result = env.feeds("ingest", "--no-publish")
    assert "1 new" in result.stdout and "1 duplicate" in result.stdout
    assert "duplicate: b/harbour-copy.txt (same bytes as a/harbour.txt)" in result.stdout
    assert rows(env, "select count(*) from articles") == [(1,)]
    assert rows(env, "select status, duplicate_of from files where path like 'b/%'") == [
        ("duplicate", "a/harbour.txt")]


def test_bad_files_are_recorded_reported_and_retried_once_fixed(env: Env) -> None:
    env.drop("good.txt", STORY)
    env.drop("empty.txt", "")
    env.drop("binary.txt", b"\x00\x01\x02garbage\x00")
    bad_json = env.drop("broken.json", '{"title": "x", "body": ')
    env.write_config(ingest={"max_bytes": 2000, "settle_seconds": 0.0})
    env.drop("huge.txt", "Big file\n\n" + "word " * 1000)
    result = env.feeds("ingest", "--no-publish")
    assert result.returncode == 0
    assert "1 new" in result.stdout and "4 failed" in result.stdout
    status = env.status()
    reasons = {f["path"]: f["reason"] for f in status["failed"]}
    assert reasons["empty.txt"] == "empty file"
    assert reasons["binary.txt"].startswith("binary file")
    assert reasons["broken.json"].startswith("not valid JSON")
    assert reasons["huge.txt"].startswith("too large")
    text = env.feeds("status").stdout
    assert "failed files: 4" in text and "broken.json: not valid JSON" in text
    # unchanged bad files are not re-read; a fixed one is picked up
    assert "0 failed" in env.feeds("ingest", "--no-publish").stdout
    bad_json.write_text('{"title": "Fixed now", "body": "The file was repaired and has a '
                        'body."}', encoding="utf-8")
    fixed = env.feeds("ingest", "--no-publish")
    assert "1 new" in fixed.stdout
    assert "broken.json" not in {f["path"] for f in env.status()["failed"]}


def test_a_bad_edit_keeps_the_last_good_articles(env: Env) -> None:
    path = env.drop("harbour.txt", STORY)
    env.feeds("ingest", "--no-publish")
    path.write_bytes(b"")
    env.feeds("ingest", "--no-publish")
    assert rows(env, "select count(*) from articles") == [(1,)]
    assert env.status()["failed"] == [{"path": "harbour.txt", "reason": "empty file"}]


def test_input_files_are_never_modified(env: Env) -> None:
    needs_shared(SEEDS)
    for path in SEEDS.iterdir():
        shutil.copy2(path, env.inbox / path.name)
    env.drop("bad.json", "{")
    before = digest_of_inbox(env)
    env.feeds("ingest")
    env.feeds("ingest")
    assert digest_of_inbox(env) == before
    assert sorted(p.name for p in env.inbox.iterdir()) == sorted(
        [p.name for p in SEEDS.iterdir()] + ["bad.json"])


def test_hidden_and_temporary_files_are_ignored_and_unknown_types_skipped(env: Env) -> None:
    env.drop(".hidden.txt", STORY)
    env.drop("draft.txt.part", STORY)
    env.drop("draft.txt.tmp", STORY)
    env.drop("notes.txt~", STORY)
    env.drop(".git/objects/x.txt", STORY)
    env.drop("photo.jpg", b"\xff\xd8\xff")
    assert "0 new" in env.feeds("ingest", "--no-publish").stdout
    # an unknown type is recorded as skipped, for `feeds status` (issue 20, item 11)
    assert rows(env, "select path, status from files") == [("photo.jpg", "skipped")]


def test_rename_into_place_is_picked_up(env: Env) -> None:
    part = env.drop("incoming.txt.part", STORY[:40])
    env.feeds("ingest", "--no-publish")
    part.write_text(STORY, encoding="utf-8")
    part.rename(env.inbox / "incoming.txt")
    assert "1 new" in env.feeds("ingest", "--no-publish").stdout


def test_symlink_outside_the_inbox_is_not_followed(env: Env, tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    outside.write_text(STORY, encoding="utf-8")
    (env.inbox / "link.txt").symlink_to(outside)
    env.feeds("ingest", "--no-publish")
    [failed] = env.status()["failed"]
    assert failed["path"] == "link.txt" and "outside the inbox" in failed["reason"]
    env.write_config(ingest={"follow_symlinks": True, "settle_seconds": 0.0})
    (env.inbox / "link.txt").unlink()
    (env.inbox / "link.txt").symlink_to(outside)
    assert "1 new" in env.feeds("ingest", "--no-publish").stdout


def test_explicit_paths_only_ingest_those(env: Env) -> None:
    one = env.drop("one.txt", STORY)
    env.drop("two.txt", STORY.replace("Harbour", "Airport"))
    assert "1 new" in env.feeds("ingest", "--no-publish", str(one)).stdout
    assert rows(env, "select key from articles") == [("one.txt#0",)]


def test_multi_story_file_shrinking_removes_the_dropped_story(env: Env) -> None:
    two = (STORY + "\n\n\n\nSecond story about the airport today\n\nThe airport said on "
           "Tuesday that a new terminal would open next year, with room for more flights and "
           "shops. Officials said construction was on schedule and on budget so far.\n")
    path = env.drop("pair.txt", two)
    env.feeds("ingest", "--no-publish")
    assert rows(env, "select key from articles order by key") == [("pair.txt#0",),
                                                                  ("pair.txt#1",)]
    path.write_text(STORY, encoding="utf-8")
    env.feeds("ingest", "--no-publish")
    assert rows(env, "select key from articles") == [("pair.txt#0",)]
    path.write_text(STORY.replace("harbour", "port"), encoding="utf-8")  # an edit
    env.feeds("ingest", "--no-publish")
    # the document frequencies story grouping reads still count exactly the stored articles
    # (their words: a report's specifics, "#" keys such as its day of the week, are not counted)
    counted = rows(env, "select term, articles from term_counts where articles > 0 "
                        "order by term")
    derived = sorted(Counter(term for (terms,) in rows(env, "select terms from signatures")
                             for term in json.loads(terms) if not term.startswith("#")).items())
    assert counted == derived and "port" in dict(derived)


def test_missing_inbox_is_a_clear_error(env: Env) -> None:
    env.inbox.rmdir()
    result = env.feeds("ingest", check=False)
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_database_is_wal_sqlite_with_schema_version(env: Env) -> None:
    sqlite_only()
    env.drop("harbour.txt", STORY)
    env.feeds("ingest", "--no-publish")
    assert rows(env, "pragma journal_mode") == [("wal",)]
    assert rows(env, "select version from schema_version")[0][0] >= 1
    assert rows(env, "pragma integrity_check") == [("ok",)]


def test_a_backfill_parsed_in_worker_processes_stores_what_one_process_stores(
        env: Env) -> None:
    """`feeds ingest` may parse a backfill in worker processes while it stores the batch
    before; articles, topics, stories, failures and duplicates come out the same."""
    for path in sorted((DATA / "stories").glob("*.txt")):  # one story, and one that is not
        shutil.copy2(path, env.inbox / path.name)
    for n in range(8):
        env.drop(f"harbour-{n}.txt", STORY.replace("LISBON", f"PORT {n}")
                 .replace("two weeks", f"{n + 2} weeks"))
    env.drop("harbour-copy.txt", (env.inbox / "harbour-1.txt").read_bytes())
    env.drop("broken.txt", b"\x00\x01\x02 not text")

    def backfill(processes: int) -> tuple[object, ...]:
        env.fresh_database()
        env.write_config(ingest={"settle_seconds": 0.0, "batch_size": 3,
                                 "processes": processes})
        result = env.feeds("--log-level", "info", "ingest", "--no-publish")
        assert ("parsing in worker processes count=2" in result.stderr) == (processes == 2)
        return (result.stdout,
                env.sql("select key, title, summary, content_hash, story_id from articles "
                        "order by key"),
                env.sql("select article_id, slug, score from article_topics "
                        "order by article_id, slug"),
                env.sql("select path, status, reason, duplicate_of from files order by path"))

    here, workers = backfill(0), backfill(2)
    assert workers == here
    assert "12 new" in here[0] and "failed: broken.txt" in here[0]
    assert "duplicate: harbour-copy.txt" in here[0]
    # the Doha talks (3 reports), the release, the harbour (8 versions of one report)
    assert len({story for *_rest, story in here[1]}) == 3
