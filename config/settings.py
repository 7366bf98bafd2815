"""Every setting paperbot reads, from the environment or a `.env` file; the only reader of either."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time
from email.utils import parseaddr
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit
from zoneinfo import available_timezones

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SOURCE_NAMES = ("huggingface", "arxiv", "feed", "sample")
ARXIV_MODES = ("rss", "api", "both")
_CATEGORY = re.compile(r"^[a-z-]+(\.[A-Za-z-]+)?$")
CommaList = Annotated[list[str], NoDecode]
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Settings whose value is never shown in an error (they hold passwords or keys).
SECRET_FIELDS = frozenset(
    {
        "smtp_url",
        "unsubscribe_secret",
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
        "discord_bot_token",
    }
)


class SettingsError(Exception):
    """A missing or wrong setting; the message is one line naming it."""


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,\s]+", value) if part.strip()]
    return value


class Settings(BaseSettings):
    """paperbot's configuration. Platform tokens keep their vendors' names; the rest is PAPERBOT_*."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        env_ignore_empty=True,
    )

    slack_bot_token: str | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: str | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    slack_signing_secret: str | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    discord_bot_token: str | None = Field(None, validation_alias="DISCORD_BOT_TOKEN")
    discord_guild_id: int | None = Field(
        None, validation_alias=AliasChoices("DISCORD_GUILD_ID", "PAPERBOT_DISCORD_GUILD_ID")
    )

    # Platforms (Heroku, Render, Fly) hand the database over as DATABASE_URL and a web
    # process's port as PORT: read when paperbot's own name is unset.
    database_url: str = Field(
        "sqlite+aiosqlite:///./data/paperbot.db",
        validation_alias=AliasChoices("PAPERBOT_DATABASE_URL", "DATABASE_URL"),
    )
    sources: CommaList = ["huggingface", "arxiv"]
    arxiv_categories: CommaList = ["cs.CV", "cs.LG", "cs.CL", "cs.AI"]
    arxiv_mode: str = "rss"
    feeds: CommaList = []
    poll_minutes: int = Field(60, ge=1, le=24 * 60)
    sweep_seconds: float = Field(60.0, ge=0.2, le=3600)
    retry_base_seconds: float = Field(5.0, ge=0.05, le=600)
    retry_max_seconds: float = Field(3600.0, ge=0.1, le=86400)
    default_schedule: time = time(9, 0)
    default_timezone: str = "UTC"
    default_days: str = "daily"
    admins_only: bool = False
    votes_admins_only: bool = False  # like/dislike/unvote/votes reset need admin rights too
    admin_users: CommaList = []
    port: int = Field(3000, ge=1, le=65535, validation_alias=AliasChoices("PAPERBOT_PORT", "PORT"))
    log_level: str = "INFO"
    log_format: str = "text"
    http_timeout: float = Field(20.0, gt=0, le=300)
    # Days a paper is kept after it was first seen, unless a channel saved it; None (`off`):
    # kept for ever.
    retention_days: int | None = 180

    # Email: digests mailed over SMTP to `email:<domain>:<local part>` channels.
    smtp_url: str | None = None
    email_from: str | None = None
    public_url: str | None = None  # where paperbot's HTTP server is reached (unsubscribe links)
    unsubscribe_secret: str | None = None  # signs unsubscribe links (else one kept in the database)

    huggingface_url: str = "https://huggingface.co/api"
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_rss_url: str = "https://rss.arxiv.org/rss"
    slack_api_url: str = "https://slack.com/api/"
    discord_api_url: str = "https://discord.com/api/v10"

    @field_validator("sources", "arxiv_categories", "feeds", "admin_users", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in SOURCE_NAMES]
        if unknown:
            raise ValueError(f"unknown source {unknown[0]!r}; expected some of {SOURCE_NAMES}")
        return value

    @field_validator("retention_days", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("off", "never", "none"):
            return None
        try:
            days = int(value)
        except (TypeError, ValueError):
            return value  # pydantic says it is not a number
        if days < 1:
            raise ValueError("keep papers at least 1 day, or set it to off to keep every paper")
        return days

    @field_validator("arxiv_mode")
    @classmethod
    def _arxiv_mode(cls, value: str) -> str:
        if value not in ARXIV_MODES:
            raise ValueError(f"expected one of {', '.join(ARXIV_MODES)}")
        return value

    @field_validator("arxiv_categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        bad = [cat for cat in value if not _CATEGORY.match(cat)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an arXiv category such as cs.CV or hep-th")
        return value

    @field_validator("feeds")
    @classmethod
    def _feed_urls(cls, value: list[str]) -> list[str]:
        bad = [url for url in value if not _http_url(url)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an http(s) feed URL")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        # Only names of the zone database: `ZoneInfo("America/Argentina")` opens a folder.
        if value.upper() == "UTC":
            return "UTC"
        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value[:60]!r}; expected an IANA name")
        return value

    @field_validator("default_days")
    @classmethod
    def _days(cls, value: str) -> str:
        if value not in ("daily", "weekdays", "off"):
            raise ValueError("expected daily, weekdays or off")
        return value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in ("text", "json"):
            raise ValueError("expected text or json")
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _db_driver(cls, value: Any) -> Any:
        return normalize_database_url(value) if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _db(cls, value: str) -> str:
        if not re.match(r"^(sqlite\+aiosqlite|postgresql\+psycopg)://", value):
            raise ValueError(
                "expected sqlite+aiosqlite:///path/to/file.db or postgresql+psycopg://user@host/db"
            )
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: str | None) -> str | None:
        if value is not None:
            smtp_server(value)  # raises ValueError naming what is wrong, never the password
        return value

    @field_validator("email_from")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS.match(parseaddr(value)[1]):
            raise ValueError(
                "expected an address such as paperbot@lab.org or 'paperbot <paperbot@lab.org>'"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        if value is not None and not _http_url(value):
            raise ValueError("expected the http(s) URL paperbot's HTTP server is reached at")
        return value.rstrip("/") if value else value

    @field_validator(
        "huggingface_url", "arxiv_api_url", "arxiv_rss_url", "slack_api_url", "discord_api_url"
    )
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http(s) URL")
        return value


def env_name(field_name: str) -> str:
    """The environment variable a user sets for a field."""
    info = Settings.model_fields[field_name]
    alias = info.validation_alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"PAPERBOT_{field_name.upper()}"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, or raise SettingsError with one line naming the bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = str(err["loc"][0]) if err["loc"] else "?"
        name = env_name(loc) if loc in Settings.model_fields else loc
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        if isinstance(got, str):
            got = hide_password(got)
        secret = loc in SECRET_FIELDS
        shown = f" (got {got!r})" if isinstance(got, str | int | float) and not secret else ""
        raise SettingsError(f"{name}: {msg}{shown}") from None


_DRIVERS = (  # the scheme a platform gives -> the async driver paperbot talks through
    ("postgres://", "postgresql+psycopg://"),
    ("postgresql://", "postgresql+psycopg://"),
    ("sqlite:///", "sqlite+aiosqlite:///"),
)
_PASSWORD = re.compile(r"\b([a-z][a-z0-9+.-]*://[^/@:\s]*):[^/@\s]*@", re.IGNORECASE)


def normalize_database_url(url: str) -> str:
    """`postgres://` and `postgresql://` (as Heroku and others give them) as psycopg's async
    driver, `sqlite:///` as aiosqlite; any other URL as it is."""
    for plain, driver in _DRIVERS:
        if url.startswith(plain):
            return driver + url.removeprefix(plain)
    return url


def hide_password(text: str) -> str:
    """`text` with the password of any URL in it shown as `***`."""
    return _PASSWORD.sub(r"\1:***@", text)


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send mail, read from PAPERBOT_SMTP_URL."""

    host: str
    port: int
    implicit_tls: bool  # smtps://: TLS from the first byte
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:  # for messages: never the credentials
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def smtp_server(url: str) -> SmtpServer:
    """`smtp://user:pass@host:587` or `smtps://user:pass@host:465` read, or a ValueError that
    says what is wrong without repeating the URL (it holds a password)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise ValueError("expected smtp://user:password@host:587 or smtps://...:465") from None
    if parts.scheme not in ("smtp", "smtps") or not host:
        raise ValueError("expected smtp://user:password@host:587 or smtps://user:password@host:465")
    if (parts.password is None) != (parts.username is None):
        raise ValueError("give both a user and a password, or neither")
    implicit = parts.scheme == "smtps"
    return SmtpServer(
        host=host,
        port=port or (465 if implicit else 587),
        implicit_tls=implicit,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def _http_url(url: str) -> bool:
    """Whether `url` is an http(s) URL with a host that can be requested."""
    if not re.match(r"^https?://[^\s/]+", url):
        return False
    try:
        parts = urlsplit(url)
        return bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:  # `https://[fe80::1/feed`, a port out of range
        return False
