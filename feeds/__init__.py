"""feeds: a folder of news articles in, per-topic Atom feeds and email digests out."""

__version__ = "0.1.0"
