"""Quality evaluations on ../shared/corpus/dev (run through scripts/eval_*)."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feeds.config import load_config, parse_config
from feeds.ingest.ingestor import Ingestor
from feeds.ingest.pipeline import Pipeline
from feeds.store import Store

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "corpus" / "dev"


def rows(name: str) -> list[dict[str, Any]]:
    path = DEV / name
    if not path.exists():
        sys.exit(f"{path} is not here: the dev corpus lives in ../shared/corpus/dev")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def default_config(folder: Path, **overrides: Any) -> Any:
    import tomllib
    data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    data["paths"] = {"inbox": "inbox", "public": "public", "state": "state"}
    data["ingest"] = {**data.get("ingest", {}), "settle_seconds": 0.0}
    for table, values in overrides.items():
        data[table] = {**data.get(table, {}), **values}
    return parse_config(data, path=folder / "config.toml")


def pairwise(truth: Mapping[str, Any], found: Mapping[str, str]) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of a grouping (item -> group) against the true one.
    A true label starting with "single-" is an item alone by definition. Pairs are formed
    within groups only, so this stays fast for the bench's 10,000-article corpus."""
    def pairs(groups: Mapping[Any, str]) -> set[tuple[str, str]]:
        members: dict[Any, list[str]] = {}
        for item, group in groups.items():
            if not (isinstance(group, str) and group.startswith("single-")):
                members.setdefault(group, []).append(item)
        return {(a, b) for names in members.values() for a, b in
                itertools.combinations(sorted(names), 2)}
    true, got = pairs(truth), pairs({item: found[item] for item in truth})
    precision = len(true & got) / len(got) if got else 1.0
    recall = len(true & got) / len(true) if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def group_stories(config: Any, files: Mapping[str, tuple[bytes, float]],
                  order: Sequence[str] | None = None, *, backfill: bool = False
                  ) -> tuple[dict[str, str], float]:
    """Ingest the files (name -> (bytes, mtime)): one at a time in name order or `order`
    (grouping is incremental: as a running daemon meets them), or with `backfill` in one
    `feeds ingest` of them all, under names that follow `order` (the inbox's order, when it
    matters). Returns article key (by the given names) -> its story, and the seconds taken."""
    names = list(order or sorted(files))
    stored_as = {name: f"{n:03d}-{name}" if backfill and order else name
                 for n, name in enumerate(names)}
    config.paths.inbox.mkdir(parents=True)
    for name, (data, stamp) in files.items():
        path = config.paths.inbox / stored_as[name]
        path.write_bytes(data)
        os.utime(path, (stamp, stamp))
    store = Store.for_config(config)
    pipeline = Pipeline(config)
    started = time.perf_counter()
    if backfill:
        Ingestor(config, store, pipeline).run()
    else:
        for name in names:
            Ingestor(config, store, pipeline).run([config.paths.inbox / stored_as[name]])
    seconds = time.perf_counter() - started
    name_of = {stored: name for name, stored in stored_as.items()}
    found = {}
    for item in store.items():
        stored, index = item.key.rsplit("#", 1)
        found[f"{name_of[stored]}#{index}"] = item.story_id or item.id
    store.close()
    return found, seconds


def event_files(events: Sequence[Mapping[str, Any]], *, dated: bool
                ) -> tuple[dict[str, tuple[bytes, float]], dict[str, str]]:
    """events.jsonl as inbox files (name -> (bytes, mtime)) and the truth (key -> event).
    Undated, every file has one day; dated, a file's mtime is its page's date (noon UTC)
    where the page gave one, and a day after the newest of them where it did not (a file
    with no date of its own arrives when it is dropped in)."""
    def stamp(day: str) -> float:
        return datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
    days = [stamp(r["date"]) for r in events if r.get("date")]
    late = max(days, default=stamp("2026-01-01")) + 86400.0
    files = {f"{r['id']}.txt": (r["text"].encode("utf-8"),
                                stamp(r["date"]) if dated and r.get("date") else late)
             for r in events}
    return files, {f"{r['id']}.txt#0": r["event"] for r in events}


def specifics_ms(events: Sequence[Mapping[str, Any]]) -> float:
    """The processor time finding a report's specifics takes, per report: the best of five
    passes (process time, so other work on a shared machine counts as little as it can)."""
    from feeds.articles.text import parse_text
    from feeds.stories.facts import specific_terms

    parts = []
    for row in events:
        article = parse_text(row["text"])[0]
        tokens = " ".join(article.body).split()
        parts.append((article.title, " ".join(tokens[:60]), " ".join(tokens[60:]),
                      article.published))
    passes = []
    for _ in range(5):
        started = time.process_time()
        for title, lead, rest, published in parts:
            specific_terms(title, lead, rest, published)
        passes.append(time.process_time() - started)
    return 1000 * min(passes) / len(parts)


def evaluate_stories(args: argparse.Namespace) -> None:
    data = rows("clusters.jsonl")
    stamp = datetime(2015, 3, 20, tzinfo=UTC).timestamp()  # the set has no dates: one day for all
    running = ROOT / "tests" / "data" / "running"
    labels = json.loads((running / "labels.json").read_text(encoding="utf-8"))
    clusters = ({f"{r['id']}.txt": (r["text"].encode("utf-8"), stamp) for r in data},
                {f"{r['id']}.txt#0": r["cluster"] for r in data})
    own = ({name: ((running / name).read_bytes(),
                   datetime.fromisoformat(label["received"]).timestamp())
            for name, label in labels.items()},
           {f"{name}#0": label["event"] for name, label in labels.items()})
    own_title = (f"tests/data/running ({len(labels)} reports, "
                 f"{len({v['event'] for v in labels.values()})} events, dated")
    unlimited = 24.0 * 365 * 100  # a window no two articles fall outside: the words alone
    events = rows("events.jsonl")
    events_title = (f"events.jsonl ({len(events)} reports, "
                    f"{len({r['event'] for r in events})} events")
    sets = [  # (title, files, truth, window hours or None for the configured one, backfill)
        (f"clusters.jsonl ({len(data)} articles, {len({r['cluster'] for r in data})} events, "
         "no dates: one day for all), one file at a time", *clusters, None, False),
        (f"{events_title}, undated: one day for all), one file at a time",
         *event_files(events, dated=False), None, False),
        (f"{events_title}, each file's mtime its page's date where it has one, the rest one "
         "later day), one backfill of all of them", *event_files(events, dated=True), None,
         True),
        (f"{own_title}), one file at a time", *own, None, False),
        (f"{own_title}), one backfill of all of them", *own, None, True),
        (f"{own_title} but words alone: no window), one file at a time", *own, unlimited,
         False),
    ]
    threshold = args.threshold or default_config(ROOT).stories.threshold
    print(f"stories, threshold {threshold}; the first P, R and F1 in name order (the running "
          f"set's names follow its dates), then P and F1 over {args.orders} shuffled orders (of "
          "arrival, or of the names in a backfill)")
    print("| set | pairwise P | pairwise R | pairwise F1 | P shuffled: median (min-max) | "
          "F1 shuffled: median (min-max) | ms/article |")
    print("|---|---|---|---|---|---|---|")
    details = []
    for number, (title, files, truth, window, backfill) in enumerate(sets, 1):
        stories: dict[str, Any] = {"threshold": threshold}
        if window is not None:
            stories["window_hours"] = window
        runs = []
        for seed in [None, *range(args.orders)]:
            order = None if seed is None else random.Random(seed).sample(sorted(files),
                                                                          len(files))
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(group_stories(default_config(Path(tmp), stories=stories), files,
                                          order, backfill=backfill))
        found, seconds = runs[0]
        precision, recall, f1 = pairwise(truth, found)
        shuffled = [pairwise(truth, other) for other, _seconds in runs[1:]]
        print(f"| {title} | {precision:.3f} | {recall:.3f} | {f1:.3f} | "
              f"{_spread([p for p, _r, _f in shuffled])} | "
              f"{_spread([f for _p, _r, f in shuffled])} | "
              f"{1000 * seconds / len(files):.1f} |")
        details.extend((number, truth[key], key, found[key]) for key in truth)
    print(f"\nspecifics alone (feeds.stories.facts) on events.jsonl: "
          f"{specifics_ms(events):.2f} ms/article (processor time, best of 5 passes)")
    if args.verbose:  # by the set's row number
        for number, event, key, story in sorted(details):
            print(f"  {number} {event:<60} {key[:40]:<40} {story}")


def _spread(values: list[float]) -> str:
    """Median (min-max) of a measure over the shuffled orders."""
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{statistics.median(ordered):.3f} ({ordered[0]:.3f}-{ordered[-1]:.3f})"


# A Daily Mail sample from the *train* split of CNN/DailyMail (never the test split): the 73
# non-CNN stories of data/train_sample.zip in github.com/EileenFeng/Text-Summarization-NLP
# (commit 895f9688), as {"id","article","reference"} lines. Kept out of the repository (no
# licence is given for it): pass its path with --dailymail.
DAILYMAIL_SOURCE = "EileenFeng/Text-Summarization-NLP data/train_sample.zip, train split"


def lead_words(text: str, count: int) -> str:
    """A lead cut to `count` words: the baseline of the same length as the summary."""
    return " ".join(text.split()[:count])


def evaluate_summaries(args: argparse.Namespace) -> None:
    from rouge_score import rouge_scorer

    from feeds.articles.text import parse_text
    from feeds.summarize import extractive_summary, lead

    samples = [("summ.jsonl (CNN/DailyMail validation)", rows("summ.jsonl"))]
    if args.dailymail:
        data = [json.loads(line) for line in
                Path(args.dailymail).read_text(encoding="utf-8").splitlines() if line]
        samples.append((f"Daily Mail sample ({DAILYMAIL_SOURCE})", data))
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    keys = ("rouge1", "rouge2", "rougeL")
    for title, data in samples:
        articles = [parse_text(row["article"])[0] for row in data]
        references = [row["reference"] for row in data]
        started = time.perf_counter()
        ours = [extractive_summary(a, max_words=args.max_words, max_sentences=3)
                for a in articles]
        seconds = time.perf_counter() - started
        systems = {
            "Lead-3": [lead(a, 3) for a in articles],
            "lead cut to the same length": [lead_words(" ".join(a.body), len(o.split()))
                                            for a, o in zip(articles, ours, strict=True)],
            "feeds extractive": ours,
        }
        results = {}
        for name, outputs in systems.items():
            totals = [0.0, 0.0, 0.0]
            for output, reference in zip(outputs, references, strict=True):
                score = scorer.score(reference, output)
                for i, key in enumerate(keys):
                    totals[i] += score[key].fmeasure
            words = sum(len(o.split()) for o in outputs) / len(outputs)
            results[name] = ([t / len(data) for t in totals], words)
        print(f"summaries on {title}: {len(data)} articles, ROUGE F1 (stemmed), "
              f"max_words={args.max_words}, {1000 * seconds / len(data):.2f} ms/article")
        print("| system | R-1 | R-2 | R-L | to Lead-3 (R-1/R-2/R-L) | to a lead of the same "
              "length | words |")
        print("|---|---|---|---|---|---|---|")
        for name, (scores, words) in results.items():
            ratios = ["/".join(f"{s / b:.3f}" for s, b in zip(scores, results[base][0],
                                                                strict=True))
                      for base in ("Lead-3", "lead cut to the same length")]
            print(f"| {name} | {scores[0]:.4f} | {scores[1]:.4f} | {scores[2]:.4f} | "
                  f"{ratios[0]} | {ratios[1]} | {words:.0f} |")
        print()


# "The article mentions the topic's country": the naive baseline for topics.
NAIVE = {"syria": r"\bsyria", "gaza": r"\bgaza\b", "ukraine-mediation": r"\bukrain"}


def evaluate_topics(args: argparse.Namespace) -> None:
    import re

    from feeds.articles.text import parse_text
    from feeds.topics import classify, compile_rules

    data = rows("topics.jsonl")
    config = load_config(ROOT / "config.toml")
    rules = compile_rules(config.topics)
    slugs = list(config.topics)
    predictions: dict[str, list[set[str]]] = {"feeds topics": [], "naive (mentions country)": []}
    misses = []
    for row in data:
        articles = parse_text(row["text"])
        found = {m.slug for a in articles for m in classify(a, rules)}
        predictions["feeds topics"].append(found)
        predictions["naive (mentions country)"].append(
            {s for s, pattern in NAIVE.items() if re.search(pattern, row["text"], re.I)})
        if found != set(row["labels"]):
            misses.append((row["id"], sorted(row["labels"]), sorted(found)))
    print(f"topics on topics.jsonl ({len(data)} articles, multi-label)")
    print("| system | topic | precision | recall | F1 | support |")
    print("|---|---|---|---|---|---|")
    for name, predicted in predictions.items():
        f1s = []
        for slug in slugs:
            pairs = [(slug in p, slug in r["labels"]) for p, r in zip(predicted, data, strict=True)]
            tp = sum(got and want for got, want in pairs)
            fp = sum(got and not want for got, want in pairs)
            fn = sum(want and not got for got, want in pairs)
            precision = tp / (tp + fp) if tp + fp else 1.0
            recall = tp / (tp + fn) if tp + fn else 1.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            f1s.append(f1)
            print(f"| {name} | {slug} | {precision:.3f} | {recall:.3f} | {f1:.3f} | {tp + fn} |")
        print(f"| {name} | **macro** | | | **{sum(f1s) / len(f1s):.3f}** | |")
    if args.verbose:
        for item, want, got in misses:
            print(f"  miss {item}: labels {want}, found {got}")
    from feeds.topic_check import check_folder, report
    checked, unlabelled = check_folder(ROOT / "tests" / "data" / "topics", rules)
    print("\ntopics on our own edge cases, tests/data/topics (feeds topics check)")
    lines = report(checked, unlabelled, slugs)
    print("\n".join(lines if args.verbose else [x for x in lines if not x.startswith("  ")]))


COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    "topics": evaluate_topics,
    "stories": evaluate_stories, "summaries": evaluate_summaries}


def main() -> None:
    parser = argparse.ArgumentParser(prog="evaluate")
    parser.add_argument("what", choices=sorted(COMMANDS))
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--orders", type=int, default=10,
                        help="stories: also group in this many shuffled arrival orders")
    parser.add_argument("--max-words", type=int, default=60)
    parser.add_argument("--dailymail", metavar="JSONL",
                        help="summaries: also this Daily Mail sample (see DAILYMAIL_SOURCE)")
    args = parser.parse_args()
    COMMANDS[args.what](args)


if __name__ == "__main__":
    main()
