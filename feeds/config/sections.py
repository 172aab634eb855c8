"""The tables of config.toml, one pydantic model each, with their defaults and the checks
that need no other table (a topic's terms, a digest's cron fields, a time zone's name).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
RESERVED_SLUGS = frozenset({"all"})


class Table(BaseModel):
    """A config.toml table: unknown keys are errors, values never change after loading.
    Strict: TOML has types, so `port = "8080"` or `threshold = "3"` is a mistake to name, not
    a string to convert; only paths are read from strings."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


FilePath = Annotated[Path, Strict(False)]  # a path, from config.toml's string


class SiteConfig(Table):
    title: str = "feeds"
    base_url: str = ""  # empty: http://<server.host>:<server.port>/ (see Config.with_server)
    author: str = "feeds"
    language: str = "en"
    description: str = "News by topic, from our editors' inbox."

    @field_validator("base_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an absolute http(s) URL, got {json.dumps(value)}")
        return value if value.endswith("/") else value + "/"


WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def _builtin_templates() -> Path:
    package = Path(__file__).resolve().parents[1]
    installed = package / "templates"  # the wheel maps templates/ into the package
    return installed if installed.is_dir() else package.parent / "templates"  # a checkout


BUILTIN_TEMPLATES = _builtin_templates()


class PathsConfig(Table):
    inbox: FilePath = Path("inbox")
    public: FilePath = Path("public")
    state: FilePath = Path("state")
    templates: FilePath | None = None  # None: the templates/ folder that ships with feeds


class StoreConfig(Table):
    url: str = ""  # empty: sqlite:///<state>/feeds.db
    busy_timeout_seconds: Annotated[float, Field(gt=0)] = 15.0


class IngestConfig(Table):
    max_bytes: Annotated[int, Field(gt=0)] = 5_000_000
    settle_seconds: Annotated[float, Field(ge=0)] = 0.2
    rescan_seconds: Annotated[float, Field(gt=0)] = 60.0
    follow_symlinks: bool = False
    batch_size: Annotated[int, Field(gt=0)] = 200
    # worker processes `feeds ingest` parses a backfill in while it stores; None: one per
    # CPU beyond the first (at most 4); 0: parse in the command's own process
    processes: Annotated[int, Field(ge=0, le=64)] | None = None


class LLMConfig(Table):
    url: str = "http://127.0.0.1:11434/v1/chat/completions"
    model: str = "llama3.2"
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    api_key_env: str = "FEEDS_LLM_API_KEY"


class SummarizerConfig(Table):
    method: Literal["extractive", "llm"] = "extractive"
    max_words: Annotated[int, Field(ge=10)] = 60
    max_sentences: Annotated[int, Field(ge=1, le=10)] = 3
    llm: LLMConfig = LLMConfig()


class TopicConfig(Table):
    title: str
    description: str = ""
    threshold: Annotated[float, Field(gt=0)] = 3.0
    title_weight: Annotated[float, Field(ge=0)] = 2.0
    lead_weight: Annotated[float, Field(ge=0)] = 1.5
    lead_words: Annotated[int, Field(ge=0)] = 60
    reference_words: Annotated[int, Field(gt=0)] = 300
    terms: dict[str, float] = {}
    require: list[list[str]] = []
    require_in_lead: list[list[str]] = []
    exclude: list[str] = []

    @model_validator(mode="after")
    def _has_terms(self) -> TopicConfig:
        if not self.terms:
            raise ValueError("a topic needs at least one entry in terms")
        return self


class StoriesConfig(Table):
    window_hours: Annotated[float, Field(gt=0)] = 96.0
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.16
    # "llm": pairs within judge_margin of the threshold are asked of summarizer.llm's endpoint
    judge: Literal["rule", "llm"] = "rule"
    judge_margin: Annotated[float, Field(ge=0, le=1)] = 0.04


class FeedsConfig(Table):
    entries: Annotated[int, Field(ge=1, le=1000)] = 50


class DigestConfig(Table):
    cron: str
    timezone: str = "UTC"
    subject: str = "{site}: {stories}"
    topics: list[str] = []
    min_items: Annotated[int, Field(ge=0)] = 1
    max_items: Annotated[int, Field(ge=1)] = 50
    grace_seconds: Annotated[int, Field(ge=0)] = 6 * 3600
    # what a new subscriber's first digest holds: "next" only articles stored after they
    # confirmed; "recent" also their topics' latest `recent` articles
    first: Literal["next", "recent"] = "next"
    recent: Annotated[int, Field(ge=1, le=100)] = 5

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {json.dumps(value)}") from None
        return value

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        try:
            value.format(site="", stories="", count=0, schedule="", date="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"bad placeholder {exc} in {json.dumps(value)}; use {{site}}, {{stories}}, "
                "{count}, {schedule} or {date}") from None
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(
                "expected five cron fields (minute hour day month weekday), "
                f"got {json.dumps(value)}"
            )
        return value


class SMTPConfig(Table):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    user: str = ""
    password_env: str = "FEEDS_SMTP_PASSWORD"
    rate_per_second: Annotated[float, Field(ge=0)] = 0.0
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    # messages sent at once, each over its own connection; a crash can repeat at most this
    # many (the ones the server accepted whose record was not yet written)
    connections: Annotated[int, Field(ge=1, le=32)] = 4

    def password(self) -> str:
        return os.environ.get(self.password_env, "")


class MailConfig(Table):
    from_address: str = "feeds@localhost"
    from_name: str = ""
    unsubscribe_mailto: str = ""  # empty: the from address
    # how often `feeds run` sends deliveries left pending (a temporary failure, or a daemon
    # sharing the database that died while sending)
    retry_seconds: Annotated[float, Field(gt=0)] = 30.0


class BouncesConfig(Table):
    """Where mail to the envelope sender comes back (see docs/bounces.md)."""

    address: str = ""  # the VERP base, bounces@example.org; empty: no VERP, no bounce reading
    maildir: FilePath | None = None  # relative to the config file
    imap_host: str = ""
    imap_port: Annotated[int, Field(ge=1, le=65535)] = 993
    imap_user: str = ""
    imap_password_env: str = "FEEDS_BOUNCES_PASSWORD"
    imap_folder: str = "INBOX"
    imap_ssl: bool = True
    poll_seconds: Annotated[float, Field(gt=0)] = 300.0
    soft_limit: Annotated[int, Field(ge=1)] = 3

    @field_validator("address")
    @classmethod
    def _verp_base(cls, value: str) -> str:
        local, at, domain = value.rpartition("@")
        if value and (not at or not local or not domain or "+" in local):
            raise ValueError(f"expected local@domain without '+', got {json.dumps(value)}")
        return value

    @property
    def reads_mailbox(self) -> bool:
        return self.maildir is not None or bool(self.imap_host)

    def imap_password(self) -> str:
        return os.environ.get(self.imap_password_env, "")


class ServerConfig(Table):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    max_age_seconds: Annotated[int, Field(ge=0)] = 60
    # public files held in memory (MB); the ones served least recently are let go first
    memory_mb: Annotated[int, Field(ge=1)] = 64
    # a connection that is idle, or still sending its request headers, this long is closed
    # (whole seconds: a fraction is rounded up)
    idle_timeout_seconds: Annotated[float, Field(gt=0)] = 15.0
    # a form body (unsubscribe) not received within this long is refused with 408
    body_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0

    def url(self) -> str:
        """Where this server answers, as a base URL (a wildcard host as localhost)."""
        host = "localhost" if self.host in WILDCARD_HOSTS else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"


class SignupConfig(Table):
    """The public sign-up form and its double opt-in (`/subscribe`, `/confirm/…`)."""

    confirm_hours: Annotated[float, Field(gt=0)] = 48.0  # how long a confirmation link works
    resend_minutes: Annotated[float, Field(ge=0)] = 10.0  # at most one mail per address
    pending_days: Annotated[float, Field(gt=0)] = 7.0  # unconfirmed sign-ups dropped after
    per_ip_per_hour: Annotated[int, Field(ge=1)] = 10
    per_address_per_hour: Annotated[int, Field(ge=1)] = 3


class WebSubConfig(Table):
    hub: str = ""
