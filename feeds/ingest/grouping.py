"""Story grouping as articles are stored: each new article joins the story whose every
report it resembles, or starts its own."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import partial

from feeds.config import StoriesConfig
from feeds.store import ArticleDraft, SavedArticle, WriteTransaction
from feeds.stories import SplitSignatures, choose_story, retrieval_terms
from feeds.stories.judge import PairJudge

log = logging.getLogger("feeds.ingest")  # see feeds.ingest.pipeline


def group_stories(tx: WriteTransaction, settings: StoriesConfig,
                  drafts: Sequence[ArticleDraft], saved: Sequence[SavedArticle],
                  total: int, splits: SplitSignatures, judge: PairJudge | None = None
                  ) -> None:
    """Put each new article of one file into a story. `total`: the articles stored.

    Candidates come from the term index (the new article's most telling terms), dated
    within the window; articles with no date of their own are never excluded by time.
    Stories in one file are different stories by construction. `judge`: the optional judge
    of near pairs (feeds.stories.judge), which sees each new article's text. `splits`: the
    stored reports' signatures split into words and specifics, kept over one run's batches.
    """
    hours = timedelta(hours=settings.window_hours)
    siblings = [d.id for d in drafts]
    for draft, result in zip(drafts, saved, strict=True):
        if result.change != "new" or result.published is None:
            continue
        terms = dict(draft.terms)
        df = tx.document_frequency(terms)
        window = ((result.published - hours, result.published + hours)
                  if draft.published is not None else None)
        found = tx.story_candidates(retrieval_terms(terms, df, total), window, siblings)
        candidates = tx.terms_of(found)
        known = {cid: other for cid, (other, _story) in candidates.items()}
        if judge is not None:
            judge.remember(draft.id, draft.title, " ".join(draft.body))
        choice = choose_story(terms, candidates,
                              partial(reports_apart_from, tx, known, set(siblings)), df,
                              total, settings.threshold,
                              partial(judge.same, draft.id) if judge else None,
                              settings.judge_margin, splits)
        tx.set_story(draft.id, choice.story_id or draft.id)
        if choice.story_id:
            log.debug("story joined article_id=%s story_id=%s score=%.2f", draft.id,
                      choice.story_id, choice.score)


def reports_apart_from(tx: WriteTransaction, known: Mapping[str, dict[str, float]],
                       siblings: set[str], stories: set[str]
                       ) -> dict[str, list[tuple[str, dict[str, float]]]]:
    """The reports of these stories, leaving out any story holding an article of the same
    file (`siblings`)."""
    return {story: reports for story, reports in tx.story_reports(stories, known).items()
            if not any(report in siblings for report, _terms in reports)}
