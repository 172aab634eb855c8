"""The validated shape of config.toml.

Every table forbids unknown keys; paths are resolved against the config file's folder; secrets
(the SMTP password, the unsubscribe signing key) come from the environment or the state folder,
never from the file. `load_config` turns every problem into a ConfigError naming the key.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from feeds.errors import ConfigError

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
RESERVED_SLUGS = frozenset({"all"})


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(_Table):
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
    package = Path(__file__).resolve().parent
    installed = package / "templates"  # the wheel maps templates/ into the package
    return installed if installed.is_dir() else package.parent / "templates"  # a checkout


BUILTIN_TEMPLATES = _builtin_templates()


class PathsConfig(_Table):
    inbox: Path = Path("inbox")
    public: Path = Path("public")
    state: Path = Path("state")
    templates: Path | None = None  # None: the templates/ folder that ships with feeds


class StoreConfig(_Table):
    url: str = ""  # empty: sqlite:///<state>/feeds.db
    busy_timeout_seconds: Annotated[float, Field(gt=0)] = 15.0


class IngestConfig(_Table):
    max_bytes: Annotated[int, Field(gt=0)] = 5_000_000
    settle_seconds: Annotated[float, Field(ge=0)] = 0.2
    rescan_seconds: Annotated[float, Field(gt=0)] = 60.0
    follow_symlinks: bool = False
    batch_size: Annotated[int, Field(gt=0)] = 200
    # worker processes `feeds ingest` parses a backfill in while it stores; None: one per
    # CPU beyond the first (at most 4); 0: parse in the command's own process
    processes: Annotated[int, Field(ge=0, le=64)] | None = None


class LLMConfig(_Table):
    url: str = "http://127.0.0.1:11434/v1/chat/completions"
    model: str = "llama3.2"
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    api_key_env: str = "FEEDS_LLM_API_KEY"


class SummarizerConfig(_Table):
    method: Literal["extractive", "llm"] = "extractive"
    max_words: Annotated[int, Field(ge=10)] = 60
    max_sentences: Annotated[int, Field(ge=1, le=10)] = 3
    llm: LLMConfig = LLMConfig()


class TopicConfig(_Table):
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


class StoriesConfig(_Table):
    window_hours: Annotated[float, Field(gt=0)] = 96.0
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.16


class FeedsConfig(_Table):
    entries: Annotated[int, Field(ge=1, le=1000)] = 50


class DigestConfig(_Table):
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


class SMTPConfig(_Table):
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


class MailConfig(_Table):
    from_address: str = "feeds@localhost"
    from_name: str = ""
    unsubscribe_mailto: str = ""  # empty: the from address
    # how often `feeds run` sends deliveries left pending (a temporary failure, or a daemon
    # sharing the database that died while sending)
    retry_seconds: Annotated[float, Field(gt=0)] = 30.0


class BouncesConfig(_Table):
    """Where mail to the envelope sender comes back (see docs/bounces.md)."""

    address: str = ""  # the VERP base, bounces@example.org; empty: no VERP, no bounce reading
    maildir: Path | None = None  # relative to the config file
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


class ServerConfig(_Table):
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


class SignupConfig(_Table):
    """The public sign-up form and its double opt-in (`/subscribe`, `/confirm/…`)."""

    confirm_hours: Annotated[float, Field(gt=0)] = 48.0  # how long a confirmation link works
    resend_minutes: Annotated[float, Field(ge=0)] = 10.0  # at most one mail per address
    pending_days: Annotated[float, Field(gt=0)] = 7.0  # unconfirmed sign-ups dropped after
    per_ip_per_hour: Annotated[int, Field(ge=1)] = 10
    per_address_per_hour: Annotated[int, Field(ge=1)] = 3


class WebSubConfig(_Table):
    hub: str = ""


class Config(_Table):
    site: SiteConfig = SiteConfig()
    paths: PathsConfig = PathsConfig()
    store: StoreConfig = StoreConfig()
    ingest: IngestConfig = IngestConfig()
    summarizer: SummarizerConfig = SummarizerConfig()
    topics: dict[str, TopicConfig] = {}
    stories: StoriesConfig = StoriesConfig()
    feeds: FeedsConfig = FeedsConfig()
    digests: dict[str, DigestConfig] = {}
    mail: MailConfig = MailConfig()
    smtp: SMTPConfig | None = None
    bounces: BouncesConfig = BouncesConfig()
    server: ServerConfig = ServerConfig()
    websub: WebSubConfig = WebSubConfig()
    signup: SignupConfig = SignupConfig()
    source: Path = Path("config.toml")
    _base_url_from_server: bool = PrivateAttr(default=False)

    @field_validator("topics")
    @classmethod
    def _slugs(cls, value: dict[str, TopicConfig]) -> dict[str, TopicConfig]:
        for slug in value:
            if not SLUG_RE.match(slug) or slug in RESERVED_SLUGS:
                raise ValueError(
                    f"topic name {json.dumps(slug)} must be lowercase letters, digits and "
                    "dashes, and not 'all'"
                )
        return value

    @model_validator(mode="after")
    def _digest_topics_exist(self) -> Config:
        for name, digest in self.digests.items():
            for slug in digest.topics:
                if slug not in self.topics:
                    raise ValueError(f"digests.{name}.topics names unknown topic {slug!r}")
        return self

    @property
    def base_url_from_server(self) -> bool:
        """site.base_url was not set: it names the server's own address."""
        return self._base_url_from_server

    def with_server(self, server: ServerConfig) -> Config:
        """This config serving at `server` (a reload keeping the running address, port 0
        once bound); an unset site.base_url follows the address."""
        config = self.model_copy(update={"server": server})
        if self._base_url_from_server:
            config = config.model_copy(update={"site": self.site.model_copy(
                update={"base_url": server.url()})})
            config._base_url_from_server = True
        return config

    @property
    def database_url(self) -> str:
        return self.store.url or f"sqlite:///{self.paths.state / 'feeds.db'}"

    def redacted(self) -> dict[str, Any]:
        """The effective configuration, secrets replaced, for `feeds config`."""
        data = self.model_dump(mode="json", exclude={"source"})
        data["store"]["url"] = _redact_url(self.store.url)
        data["store"]["effective_url"] = _redact_url(self.database_url)
        if self.smtp is not None:
            data["smtp"]["password"] = "<redacted>" if self.smtp.password() else "<unset>"
        return data


def _redact_url(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:<redacted>@", url)


def _describe(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return repr(value)


_EXPECTED = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
}


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed where `loc` (an unknown key's place) is: its table's fields."""
    model: Any = Config
    parts = list(loc[:-1])
    while parts:
        field = model.model_fields.get(parts.pop(0))
        if field is None:
            return []
        kind = field.annotation
        args = [a for a in get_args(kind) if a is not type(None)]
        if get_origin(kind) is dict and parts:  # [topics.SLUG], [digests.NAME]
            parts.pop(0)
            kind = args[-1]
        elif args and get_origin(kind) is not dict:  # smtp: SMTPConfig | None
            kind = args[0]
        if not (isinstance(kind, type) and issubclass(kind, BaseModel)):
            return []
        model = kind
    return [name for name in model.model_fields if name != "source"]


def _problem(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        loc = tuple(error["loc"])
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc), n=1, cutoff=0.6)
        return f"unknown key; did you mean {close[0]}?" if close else "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in _EXPECTED:
        return f"{_EXPECTED[kind]}, got {_describe(error.get('input'))}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"expected one of {expected}, got {_describe(error.get('input'))}"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        return f"{message[0].lower()}{message[1:]}, got {_describe(error.get('input'))}"
    return message


def _resolve(config: Config, base: Path) -> Config:
    paths = PathsConfig(
        inbox=(base / config.paths.inbox).resolve(),
        public=(base / config.paths.public).resolve(),
        state=(base / config.paths.state).resolve(),
        templates=(base / config.paths.templates).resolve() if config.paths.templates
        else BUILTIN_TEMPLATES,
    )
    resolved = config.model_copy(update={"paths": paths})
    if not config.site.base_url:
        resolved._base_url_from_server = True
        resolved = resolved.with_server(config.server)
    return resolved


def parse_config(data: Mapping[str, Any], *, path: Path) -> Config:
    """Validate already-decoded TOML. Paths resolve against `path`'s folder."""
    try:
        config = Config.model_validate({**data, "source": path})
    except ValidationError as exc:
        errors = exc.errors()
        lines = []
        for err in errors:
            key = ".".join(str(part) for part in err["loc"])
            lines.append((key, _problem(err)))
        key, problem = lines[0]
        extra = "".join(f"\n{path.name}: {k}: {p}" for k, p in lines[1:])
        raise ConfigError(key, problem + extra, source=path.name) from None
    return _resolve(config, path.parent)


def load_config(path: str | os.PathLike[str]) -> Config:
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "", "file not found", source=str(file),
            hint="pass --config FILE or set FEEDS_CONFIG",
        ) from None
    except OSError as exc:
        raise ConfigError("", f"cannot read: {exc.strerror}", source=str(file)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"not valid TOML: {exc}", source=file.name) from None
    return parse_config(data, path=file.resolve())


def find_config(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("FEEDS_CONFIG")
    return Path(env) if env else Path("config.toml")
