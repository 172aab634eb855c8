"""The validated shape of config.toml.

Every table forbids unknown keys; paths are resolved against the config file's folder; secrets
(the SMTP password, the unsubscribe signing key) come from the environment or the state folder,
never from the file. `load_config` turns every problem into a ConfigError naming the key.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr, ValidationError, field_validator, model_validator

from feeds.config.problems import problem
from feeds.config.sections import (
    BUILTIN_TEMPLATES,
    RESERVED_SLUGS,
    SLUG_RE,
    WILDCARD_HOSTS,
    BouncesConfig,
    DigestConfig,
    FeedsConfig,
    FilePath,
    IngestConfig,
    LLMConfig,
    MailConfig,
    PathsConfig,
    ServerConfig,
    SignupConfig,
    SiteConfig,
    SMTPConfig,
    StoreConfig,
    StoriesConfig,
    SummarizerConfig,
    Table,
    TopicConfig,
    WebSubConfig,
)
from feeds.errors import ConfigError

__all__ = [
    "BUILTIN_TEMPLATES", "WILDCARD_HOSTS", "BouncesConfig", "Config", "DigestConfig",
    "FeedsConfig", "IngestConfig", "LLMConfig", "MailConfig", "PathsConfig", "SMTPConfig",
    "ServerConfig", "SignupConfig", "SiteConfig", "StoreConfig", "StoriesConfig",
    "SummarizerConfig", "TopicConfig", "WebSubConfig", "find_config", "load_config",
    "parse_config",
]


class Config(Table):
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
    source: FilePath = Path("config.toml")
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
        from feeds.workers import spare_cpus  # only `feeds config` needs it
        data["ingest"]["effective_processes"] = spare_cpus(self.ingest.processes)
        if self.smtp is not None:
            data["smtp"]["password"] = "<redacted>" if self.smtp.password() else "<unset>"
        return data


def _redact_url(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:<redacted>@", url)


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
            lines.append((key, problem(Config, err)))
        key, first = lines[0]
        extra = "".join(f"\n{path.name}: {k}: {p}" for k, p in lines[1:])
        raise ConfigError(key, first + extra, source=path.name) from None
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
