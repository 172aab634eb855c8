"""The store: the only code that speaks SQL (SQLAlchemy Core; SQLite by default)."""

from feeds.store.core import ArticleDraft, SavedArticle, Store

__all__ = ["ArticleDraft", "SavedArticle", "Store"]
