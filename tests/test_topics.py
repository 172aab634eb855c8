"""Topic rules on the edges: fighting is not mediation, a passing mention is not a topic."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.topics import compile_term
from tests.conftest import DATA, SEEDS, Env, needs_shared

CASES = {path.name.removesuffix(".topics"): sorted(path.read_text(encoding="utf-8").split())
         for path in sorted((DATA / "topics").glob("*.topics"))}  # why: tests/data/topics/README


def test_every_edge_case_has_its_label() -> None:
    texts = {p.name for p in (DATA / "topics").glob("*.txt")}
    assert len(CASES) >= 18 and set(CASES) == texts


@pytest.fixture(scope="module")
def topics_of(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    env = Env(tmp_path_factory.mktemp("topics"))
    results = env.explain(*(DATA / "topics" / name for name in CASES))
    return {Path(r["path"]).name: [t["slug"] for t in r["articles"][0]["topics"]]
            for r in results}


@pytest.mark.parametrize(("name", "expected"), CASES.items())
def test_topic_edge_cases(topics_of: dict[str, list[str]], name: str,
                          expected: list[str]) -> None:
    assert sorted(topics_of[name]) == expected


def test_seed_topics(tmp_path: Path) -> None:
    needs_shared(SEEDS)
    env = Env(tmp_path)
    found = {Path(r["path"]).name[:3]: [sorted(t["slug"] for t in a["topics"])
                                        for a in r["articles"]]
             for r in env.explain(*sorted(SEEDS.iterdir()))}
    assert found["001"] == [["gaza", "syria", "ukraine-mediation"]]
    for seed in ("000", "002", "003"):
        assert found[seed] == [["syria"]]
    assert found["004"] == [["syria"], ["syria"]]


def test_explain_shows_the_evidence(env: Env) -> None:
    [result] = env.explain(DATA / "topics" / "gaza_truce_brokered_by_qatar.txt")
    [topic] = result["articles"][0]["topics"]
    assert topic["slug"] == "gaza" and topic["score"] >= topic["threshold"]
    assert any(e.startswith("gaza×") for e in topic["evidence"])
    ukraine = next(s for s in result["articles"][0]["scores"]
                   if s["slug"] == "ukraine-mediation")
    assert any(e.startswith("missing required") for e in ukraine["evidence"])


def test_explain_says_when_the_subject_is_not_in_the_lead(env: Env) -> None:
    [result] = env.explain(DATA / "topics" / "ukraine_offensive_talks_stalled_in_passing.txt")
    [article] = result["articles"]
    assert article["topics"] == []
    ukraine = next(s for s in article["scores"] if s["slug"] == "ukraine-mediation")
    assert ukraine["score"] >= ukraine["threshold"]  # enough words, but late and in passing
    assert any(e.startswith("not in the title or lead: mediat*") for e in ukraine["evidence"])


def test_a_title_made_from_the_first_sentence_is_not_weighed_as_a_title(env: Env) -> None:
    """Without a title, the first sentence stands in for one in the feed; for topics it is
    the lead it already is, not a title on top of it."""
    sentence = "Aid lorries reached Gaza on Tuesday, the relief agencies said."
    rest = " ".join(["The convoy carried flour, medicine and fuel for two hospitals."] * 3)
    titled = env.inbox / "titled.txt"
    titled.write_text(f"Aid reaches Gaza\n\n{sentence} {rest}\n", encoding="utf-8")
    untitled = env.inbox / "untitled.txt"
    untitled.write_text(f"{sentence} {rest}\n", encoding="utf-8")
    scores = {}
    for result in env.explain(titled, untitled):
        [article] = result["articles"]
        gaza = next(s for s in article["scores"] if s["slug"] == "gaza")
        scores[Path(result["path"]).name] = gaza
    assert any("(title)" in e for e in scores["titled.txt"]["evidence"])
    assert not any("(title)" in e for e in scores["untitled.txt"]["evidence"])
    assert scores["untitled.txt"]["score"] < scores["titled.txt"]["score"]


def test_topics_found_again_after_the_rules_reload_are_the_ones_found_at_ingest(
        env: Env) -> None:
    """A config reload classifies every stored article again. It must read each as it was
    parsed: its dateline, whether its title was made from the first sentence, and the topics
    its front matter named; otherwise the same rules would move articles between topics."""
    from feeds.config import load_config
    from feeds.ingest.ingestor import Ingestor
    from feeds.ingest.pipeline import Pipeline
    from feeds.store import Store

    shutil.copy2(DATA / "topics" / "gaza_feature_lede_without_the_name.txt", env.inbox)
    env.drop("untitled.txt", "Aid lorries reached Gaza on Tuesday, the relief agencies said. "
             + "The convoy carried flour, medicine and fuel for two hospitals. " * 3 + "\n")
    env.drop("named.md", '+++\ntitle = "A bakery reopens"\ntopics = ["gaza"]\n+++\n\n'
             "The bakery on the main square reopened on Monday after repairs.\n")
    env.feeds("ingest")
    config = load_config(env.config)
    store = Store.for_config(config)
    pipeline = Pipeline(config)
    try:
        assert {s for i in store.items() for s in i.topic_slugs} == {"gaza"}
        assert Ingestor(config, store, pipeline).reclassify() == set()
    finally:
        pipeline.close()
        store.close()


@settings(max_examples=300, deadline=None)
@given(term=st.sampled_from(["syria", "peace talks", "negotiat*", "al-sharaa", "hostage*",
                             "deir ez-zor", "o'brien"]),
       text=st.text(alphabet="syriaptlkneogchdbz'’-_é1 \n", max_size=40),
       before=st.sampled_from(list("x1_é-'’ \n")), after=st.sampled_from(list("xs1_é-'’ .")))
def test_a_term_counts_whole_words_as_a_look_behind_pattern_would(
        term: str, text: str, before: str, after: str) -> None:
    """Terms match where a word starts: the same matches as the plain pattern with a
    look-behind (which is 25x slower, so it is not what feeds runs)."""
    compiled = compile_term(term)
    reference = re.compile(r"(?<![\w])" + compiled.source)
    word = term.rstrip("*")
    for haystack in (text, f"{word}{after}{text}", f"{text}{before}{word}{after}{text}"):
        assert compiled.count(haystack) == len(reference.findall(haystack)), haystack
        assert compiled.search(haystack) == (reference.search(haystack) is not None)


def test_topics_check_scores_labelled_files_and_shows_the_misses(env: Env,
                                                                tmp_path: Path) -> None:
    folder = tmp_path / "labelled"
    folder.mkdir()
    for name, label in [("gaza_west_bank_raid_no_gaza.txt", "gaza"),
                        ("syria_mentioned_in_passing.txt", ""),  # an empty sidecar: none
                        ("syria_in_passing_lebanon_cabinet.txt", "syria\n")]:  # mislabelled
        shutil.copy2(DATA / "topics" / name, folder / name)
        (folder / f"{name}.topics").write_text(label, encoding="utf-8")
    shutil.copy2(DATA / "topics" / "syria_transition_refugee_returns.txt", folder)  # no label
    (folder / "talks.md").write_text(
        "---\ntitle: Talks in Istanbul\ntopics: [ukraine-mediation, gaza]\n---\n"
        "Russian and Ukrainian negotiators met in Istanbul on Monday for peace talks on a "
        "ceasefire and a prisoner exchange, Turkish mediators said.\n", encoding="utf-8")
    lines = env.feeds("topics", "check", str(folder)).stdout.splitlines()
    assert lines[0] == "4 labelled files (1 without a label left out)"
    assert "| syria | 1.000 | 0.000 | 0.000 | 1 |" in lines
    assert "| gaza | 1.000 | 0.500 | 0.667 | 2 |" in lines  # talks.md names gaza, wrongly
    assert "| ukraine-mediation | 1.000 | 1.000 | 1.000 | 1 |" in lines
    misses = [line for line in lines if line.startswith("miss ")]
    assert misses == ["miss syria_in_passing_lebanon_cabinet.txt: expected ['syria'], "
                      "found none",
                      "miss talks.md: expected ['gaza', 'ukraine-mediation'], "
                      "found ['ukraine-mediation']"]
    evidence = lines[lines.index(misses[0]) + 1]
    assert evidence.startswith("  syria (missed): score ") and "hezbollah" in evidence
    assert "  gaza (missed): score 0.0 of 4.5; not in the title or lead" in "\n".join(lines)
