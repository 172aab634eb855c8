"""What every command shares: the config and store it was given, and the one place a
FeedsError becomes a message and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click

from feeds.errors import FeedsError

if TYPE_CHECKING:
    from feeds.config import Config
    from feeds.store import Store

P = ParamSpec("P")
R = TypeVar("R")


class Context:
    """The config file a command was given, loaded on first use."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from feeds.config import find_config, load_config
            self._config = load_config(find_config(self.config_path))
        return self._config

    @property
    def scheduled_config(self) -> Config:
        """The config, every digest schedule's fields checked as the scheduler reads them
        (for the commands that use schedules; see feeds.cron)."""
        from feeds.cron import check_schedules
        return check_schedules(self.config)

    @contextmanager
    def store(self) -> Iterator[Store]:
        from feeds.store import Store
        store = Store.for_config(self.config)
        try:
            yield store
        finally:
            store.close()


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except FeedsError as exc:
            click.echo(f"feeds: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)
        except Exception as exc:
            from feeds.store import DatabaseUnavailable  # a command without a store never gets it
            if not isinstance(exc, DatabaseUnavailable):
                raise
            # the database went away or stayed locked past store.busy_timeout_seconds; the
            # transaction in progress was rolled back, so running the command again is safe
            click.echo(f"feeds: the database is unavailable: {exc.orig}", err=True)
            click.echo("hint: another process may hold a long write lock; nothing was "
                       "half-written, run the command again", err=True)
            sys.exit(1)
    return wrapper
