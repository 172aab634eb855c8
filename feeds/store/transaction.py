"""The typed transactions `Store.read()` and `Store.write()` yield: their methods are the
named queries of every entity module, all on one connection that never leaves the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Connection

from feeds.store.articles import ArticleReads, ArticleWrites
from feeds.store.bounces import BounceReads, BounceWrites
from feeds.store.deliveries import DeliveryReads, DeliveryWrites
from feeds.store.engine import CompiledStatements
from feeds.store.files import FileReads, FileWrites
from feeds.store.pages import PageReads, PageWrites
from feeds.store.retractions import RetractionReads, RetractionWrites
from feeds.store.runs import RunReads, RunWrites
from feeds.store.story_index import IndexStatements, SignatureCache, TermCounts
from feeds.store.subscribers import SubscriberReads, SubscriberWrites


class ReadTransaction(FileReads, ArticleReads, RunReads, PageReads, SubscriberReads,
                      DeliveryReads, RetractionReads, BounceReads):
    """One read transaction: a consistent view of the store."""


class WriteTransaction(FileWrites, ArticleWrites, RunWrites, PageWrites, SubscriberWrites,
                       DeliveryWrites, RetractionWrites, BounceWrites):
    """One write transaction: every write of the block commits together, or none does.
    Document frequencies changed in it, and the sequence numbers of its new articles, are
    written once, at its end (`finish`)."""

    def __init__(self, conn: Connection, statements: CompiledStatements,
                 signature_cache: SignatureCache, index_statements: IndexStatements,
                 order_lock: Callable[[], None], grew: Callable[[int], None]) -> None:
        super().__init__(conn, statements)
        self.term_counts = TermCounts()
        self.signature_cache = signature_cache
        self.index_statements = index_statements
        self.new_articles: list[str] = []
        self.order_lock = order_lock
        self.grew = grew
        self.unreported = 0
        self.newest_updated: datetime | None = None

    def finish(self) -> None:
        """The block's work is done: write what it kept for the end, before the commit. New
        articles get their sequence numbers under the writers' lock, held until the commit,
        so numbers follow commit order whichever lock the transaction waited for before."""
        if self.new_articles:
            self.order_lock()
            self.number_new_articles()
        self.write_term_counts()
