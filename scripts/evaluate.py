"""Quality evaluations on ../shared/corpus/dev (run through scripts/eval_*)."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feeds.config import parse_config
from feeds.ingest import Ingestor, Pipeline
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


def pairwise(truth: dict[str, str], found: dict[str, str]) -> tuple[float, float, float]:
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(truth), 2):
        same_truth = truth[a] == truth[b] and not truth[a].startswith("single-")
        same_found = found[a] == found[b]
        tp += same_truth and same_found
        fp += same_found and not same_truth
        fn += same_truth and not same_found
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def evaluate_stories(args: argparse.Namespace) -> None:
    data = rows("clusters.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = default_config(folder, **({"stories": {"threshold": args.threshold}}
                                           if args.threshold else {}))
        config.paths.inbox.mkdir(parents=True)
        stamp = datetime(2015, 3, 20, tzinfo=UTC).timestamp()
        truth = {}
        for row in data:
            path = config.paths.inbox / f"{row['id']}.txt"
            path.write_text(row["text"], encoding="utf-8")
            os.utime(path, (stamp, stamp))  # the set has no dates: one day for all
            truth[f"{row['id']}.txt#0"] = row["cluster"]
        store = Store.open(config.database_url)
        pipeline = Pipeline(config)
        started = time.perf_counter()
        for name in sorted(truth):  # one at a time: grouping is incremental
            Ingestor(config, store, pipeline).run([config.paths.inbox / name.split("#")[0]])
        seconds = time.perf_counter() - started
        found = {item.key: item.story_id or item.id for item in store.items()}
        store.close()
    precision, recall, f1 = pairwise(truth, found)
    print(f"stories on clusters.jsonl ({len(data)} articles, "
          f"{len(set(truth.values()))} events), threshold {config.stories.threshold}")
    print("| system | pairwise P | pairwise R | pairwise F1 | ms/article |")
    print("|---|---|---|---|---|")
    print(f"| feeds stories | {precision:.3f} | {recall:.3f} | {f1:.3f} | "
          f"{1000 * seconds / len(data):.1f} |")
    if args.verbose:
        for key in sorted(truth, key=lambda k: (truth[k], k)):
            print(f"  {truth[key]:<60} {found[key]}")


COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {"stories": evaluate_stories}


def main() -> None:
    parser = argparse.ArgumentParser(prog="evaluate")
    parser.add_argument("what", choices=sorted(COMMANDS))
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--threshold", type=float)
    args = parser.parse_args()
    COMMANDS[args.what](args)


if __name__ == "__main__":
    main()
