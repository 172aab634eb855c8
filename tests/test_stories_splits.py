"""The split signatures a run keeps: the same stored report is split once, a changed one again."""

from feeds.stories import SplitSignatures
from feeds.stories.facts import Specifics


def test_a_kept_split_is_the_reports_own_and_a_changed_signature_is_split_again() -> None:
    splits = SplitSignatures(size=2)
    first = {"ceasefire": 1.5, "kherson": 1.2, "#on:2026-11-03": 1.0, "#leadtoll:4": 1.0}
    words, specifics = splits(first)
    assert words == {"ceasefire": 1.5, "kherson": 1.2}
    assert specifics == Specifics.of(first)
    assert splits(first)[1] is specifics  # kept: not split again
    changed = dict(first, **{"#leadtoll:40": 1.0})  # the report stored again, a new toll
    assert splits(changed)[1].lead_toll == frozenset({4, 40})
    splits({"other": 1.0})
    splits({"third": 1.0})  # two kept at most: the oldest goes
    assert len(splits.kept) == 2 and id(first) not in splits.kept
