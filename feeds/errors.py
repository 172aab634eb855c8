"""The error hierarchy every boundary of `feeds` speaks.

    FeedsError                 root: a message for the user and an optional hint
     ├── ConfigError(key, problem)   config.toml is wrong; names the key
     ├── ParseError(path, reason)    one input file could not become articles
     ├── StoreError                  the database refused or is out of date
     ├── PublishError                public/ could not be written
     └── DeliveryError               a message could not be delivered

The CLI turns any FeedsError into one line on stderr and an exit code; nothing else
catches them broadly.
"""

from __future__ import annotations


class FeedsError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(FeedsError):
    exit_code = 2

    def __init__(self, key: str, problem: str, *, source: str = "config.toml",
                 hint: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.source = source
        where = f"{key}: " if key else ""
        super().__init__(f"{source}: {where}{problem}", hint)


class ParseError(FeedsError):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class StoreError(FeedsError):
    pass


class PublishError(FeedsError):
    def __reduce__(self) -> tuple[type[PublishError], tuple[str, str | None]]:
        # raised in a helper process, it reaches the publisher whole (hint too)
        return PublishError, (self.message, self.hint)


class DeliveryError(FeedsError):
    """A message not delivered. `permanent`: the server refused it for good (5xx).
    `unreachable`: the server could not be reached or refused the login, so every other
    message would fail the same way. `uncertain`: it was sent, but no reply to its end came,
    so it may have arrived: not to be sent again at once."""

    def __init__(self, message: str, *, permanent: bool = False, unreachable: bool = False,
                 uncertain: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.permanent = permanent
        self.unreachable = unreachable
        self.uncertain = uncertain
