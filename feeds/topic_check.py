"""`feeds topics check FOLDER`: how the configured topic rules do on an editor's own labelled
examples, with the evidence behind every miss.

A file is labelled by a sidecar next to it, `<file name>.topics` (topic slugs, one a line or
separated by commas; an empty sidecar means "no topic"), or, for Markdown, by a `topics:` key in
its front matter. The sidecar wins where both are given; files with neither are left out. The
rules are judged alone: a topic the front matter names is the expected answer here, not a
match (at ingest an author's named topic is kept whatever the rules say)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from feeds.articles import clean, is_candidate, parse_file
from feeds.articles.decode import decode
from feeds.articles.markdown import split_front_matter
from feeds.errors import FeedsError
from feeds.models import TopicMatch
from feeds.topics import Rules, classify, explain

SIDECAR = ".topics"


@dataclass(frozen=True, slots=True)
class Checked:
    """One labelled file: what its label expects, what the rules found, every topic's score."""

    name: str
    expected: frozenset[str]
    found: frozenset[str]
    scores: tuple[TopicMatch, ...]


@dataclass(frozen=True, slots=True)
class TopicScore:
    slug: str
    precision: float
    recall: float
    f1: float
    support: int


def _split_slugs(text: str) -> frozenset[str]:
    return frozenset(s.strip().lower() for s in re.split(r"[,\n]", text) if s.strip())


def expected_topics(path: Path, data: bytes) -> frozenset[str] | None:
    """The topics a file is labelled with, or None when it carries no label."""
    sidecar = path.with_name(path.name + SIDECAR)
    if sidecar.exists():
        return _split_slugs(sidecar.read_text(encoding="utf-8"))
    if path.suffix.lower() not in (".md", ".markdown"):
        return None
    try:
        front, _body = split_front_matter(clean.normalize(decode(data)[0]))
    except Exception:  # a file the parser cannot read is reported by check_file
        return None
    if "topics" not in front:
        return None
    value = front["topics"]
    items = value if isinstance(value, list) else [value] if value else []
    return frozenset(str(item).strip().lower() for item in items if str(item).strip())


def labelled_files(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        raise FeedsError(f"{folder} is not a folder", hint="give the folder of labelled files")
    for path in sorted(folder.rglob("*")):
        if path.is_file() and is_candidate(path.name):
            yield path


def check_file(path: Path, folder: Path, rules: Mapping[str, Rules]) -> Checked | None:
    """The rules' verdict on one file, or None when the file has no label."""
    data = path.read_bytes()
    expected = expected_topics(path, data)
    if expected is None:
        return None
    found: set[str] = set()
    scores: dict[str, TopicMatch] = {}
    for article in parse_file(path.name, data):
        judged = replace(article, topics=())  # the rules alone, not the author's word
        found.update(m.slug for m in classify(judged, rules))
        for match in explain(judged, rules):
            best = scores.get(match.slug)
            if best is None or match.score > best.score:
                scores[match.slug] = match
    name = path.relative_to(folder).as_posix()
    return Checked(name, expected, frozenset(found),
                   tuple(sorted(scores.values(), key=lambda m: m.slug)))


def check_folder(folder: Path, rules: Mapping[str, Rules]) -> tuple[list[Checked], int]:
    """Every labelled file's verdict, and how many files were left out for having no label."""
    checked, unlabelled = [], 0
    for path in labelled_files(folder):
        result = check_file(path, folder, rules)
        if result is None:
            unlabelled += 1
        else:
            checked.append(result)
    return checked, unlabelled


def topic_scores(checked: Sequence[Checked], slugs: Sequence[str]) -> list[TopicScore]:
    """Precision, recall and F1 of each topic over the checked files (1.0 when undefined)."""
    out = []
    for slug in slugs:
        tp = sum(slug in c.found and slug in c.expected for c in checked)
        fp = sum(slug in c.found and slug not in c.expected for c in checked)
        fn = sum(slug in c.expected and slug not in c.found for c in checked)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append(TopicScore(slug, precision, recall, f1, tp + fn))
    return out


def report(checked: Sequence[Checked], unlabelled: int, slugs: Sequence[str]) -> list[str]:
    """The lines `feeds topics check` prints: the table, then each miss with its evidence."""
    lines = [f"{len(checked)} labelled files ({unlabelled} without a label left out)",
             "| topic | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    scores = topic_scores(checked, slugs)
    for s in scores:
        lines.append(f"| {s.slug} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | "
                     f"{s.support} |")
    if scores:
        lines.append(f"| **macro** | | | **{sum(s.f1 for s in scores) / len(scores):.3f}** | |")
    unknown = sorted({t for c in checked for t in c.expected} - set(slugs))
    if unknown:
        lines.append(f"labels naming no configured topic: {', '.join(unknown)}")
    for c in checked:
        wrong = sorted((c.expected ^ c.found) & set(slugs))
        if not wrong:
            continue
        lines.append(f"miss {c.name}: expected {sorted(c.expected) or 'none'}, "
                     f"found {sorted(c.found) or 'none'}")
        for match in c.scores:
            if match.slug in wrong:
                kind = "missed" if match.slug in c.expected else "wrongly found"
                lines.append(f"  {match.slug} ({kind}): score {match.score:.1f} of "
                             f"{match.threshold:.1f}; " + "; ".join(match.evidence))
    return lines
