"""The store: the only code that speaks SQL (SQLAlchemy Core; SQLite by default)."""

from sqlalchemy.exc import OperationalError as DatabaseUnavailable

from feeds.store.claims import Claims
from feeds.store.core import ArticleDraft, SavedArticle, Store

# What a store call raises when the database is down or stays locked past the busy timeout;
# the transaction in progress is rolled back, so the caller may simply try again.
__all__ = ["ArticleDraft", "Claims", "DatabaseUnavailable", "SavedArticle", "Store"]
