"""The composition root: settings -> storage -> sources -> chats -> pipeline -> commands."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from adapters.console.chat import ConsoleChat
from adapters.sources.registry import build_sources
from adapters.web.unsubscribe import Unsubscribe, UnsubscribeTokens
from bot.commands.handler import CommandHandler
from bot.delivery.pipeline import Pipeline
from bot.models import Days, Schedule
from bot.ports import Chat, Clock, Metrics, PaperSource, utcnow
from bot.stores import SeenRequests, Stores
from config.settings import Settings, SettingsError
from storage import build_stores, open_database, ping
from storage.secrets import stored_secret

log = logging.getLogger(__name__)


def default_schedule(settings: Settings) -> Schedule:
    """The schedule new channels get."""
    return Schedule(
        at=settings.default_schedule,
        timezone=settings.default_timezone,
        days=Days(settings.default_days),
    )


def retention(settings: Settings) -> timedelta | None:
    """How long papers are kept (None: for ever)."""
    return None if settings.retention_days is None else timedelta(days=settings.retention_days)


@dataclass
class App:
    """Everything a running paperbot holds, wired once."""

    settings: Settings
    stores: Stores
    pipeline: Pipeline
    handler: CommandHandler
    console: ConsoleChat
    sources: dict[str, PaperSource] = field(default_factory=dict)
    chats: dict[str, Chat] = field(default_factory=dict)
    health: Callable[[], Awaitable[bool]] | None = None  # whether the bot is up (its database)
    routes: list[Any] = field(default_factory=list)  # the HTTP server's routes beside /healthz


class MissingExtra(SettingsError):
    """A platform is configured but its package was not installed."""


def _platform_module(platform: str, module: str, setting: str) -> Any:
    """Import a platform's adapter (and so its SDK) only when it is configured; a missing SDK
    is one line naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise MissingExtra(
            f"{setting} is set, but {platform}'s package ({exc.name}) is not installed: "
            f"pip install 'paperbot[{platform}]'"
        ) from None


def build_chats(
    settings: Settings,
    console: ConsoleChat,
    health: Callable[[], Awaitable[bool]],
    routes: Sequence[Any] = (),
    tokens: UnsubscribeTokens | None = None,
    seen: SeenRequests | None = None,
) -> dict[str, Chat]:
    """The console, plus every platform whose token (or SMTP server) is set (`routes`:
    paperbot's own HTTP routes, served beside Slack's events when Slack runs over HTTP;
    `tokens` sign the unsubscribe links of email digests)."""
    chats: dict[str, Chat] = {"console": console}
    if settings.slack_bot_token or settings.slack_app_token or settings.slack_signing_secret:
        # Half a Slack set-up is a mistake to report, not a reason to run without Slack.
        slack = _platform_module("slack", "adapters.slack.chat", "SLACK_BOT_TOKEN")
        chats["slack"] = slack.SlackChat.from_settings(settings, health, routes, seen)
    if settings.discord_bot_token:
        discord = _platform_module("discord", "adapters.discord.chat", "DISCORD_BOT_TOKEN")
        chats["discord"] = discord.DiscordChat.from_settings(settings)
    if settings.smtp_url and tokens is not None:
        email = _platform_module("email", "adapters.email.chat", "PAPERBOT_SMTP_URL")
        chats["email"] = email.EmailChat.from_settings(settings, tokens)
    return chats


async def unsubscribe_secret(settings: Settings, engine: Any) -> str:
    """PAPERBOT_UNSUBSCRIBE_SECRET, or the one generated at first start and kept in the database."""
    return settings.unsubscribe_secret or await stored_secret(engine, "unsubscribe")


@asynccontextmanager
async def open_app(
    settings: Settings,
    *,
    sources: Sequence[str] | None = None,
    chats: Mapping[str, Chat] | None = None,
    clock: Clock = utcnow,
    console: ConsoleChat | None = None,
    metrics: Metrics | None = None,
    routes: Sequence[Any] = (),
) -> AsyncIterator[App]:
    """Open the database (migrating it), build sources and chats, and close them all after
    (also what was opened when building the rest fails: a missing Slack secret, say)."""
    async with AsyncExitStack() as opened:  # closed in reverse: chats, sources, then the database
        engine = await open_database(settings.database_url)
        opened.push_async_callback(engine.dispose)
        stores = build_stores(engine)
        console = console or ConsoleChat()
        built_sources = {s.name: s for s in build_sources(settings, sources, clock=clock)}
        for source in built_sources.values():
            opened.push_async_callback(_close_source, source)

        async def health() -> bool:
            return await ping(engine)

        # The one-click unsubscribe links of email digests, served with paperbot's other routes.
        unsubscribe = Unsubscribe(UnsubscribeTokens(await unsubscribe_secret(settings, engine)))
        served = [*routes, *unsubscribe.routes()]
        built_chats = (
            dict(chats)
            if chats is not None
            else build_chats(settings, console, health, served, unsubscribe.tokens, stores.seen)
        )
        for chat in built_chats.values():  # (stop is idempotent: the runner may have stopped them)
            opened.push_async_callback(_stop_chat, chat)
        pipeline = Pipeline(
            stores,
            built_sources,
            built_chats,
            clock,
            poll_interval=timedelta(minutes=settings.poll_minutes),
            retry_base=settings.retry_base_seconds,
            retry_max=settings.retry_max_seconds,
            metrics=metrics,
        )
        live_trending = getattr(built_sources.get("huggingface"), "trending", None)
        handler = CommandHandler(
            pipeline,
            default_schedule(settings),
            trending=live_trending,
            admins_only=settings.admins_only,
            votes_admins_only=settings.votes_admins_only,
        )
        unsubscribe.on_command = handler  # the links pause through the commands, as typed
        yield App(
            settings,
            stores,
            pipeline,
            handler,
            console,
            built_sources,
            built_chats,
            health,
            served,
        )


async def _stop_chat(chat: Chat) -> None:
    try:
        await chat.stop()
    except Exception as exc:  # closing must not mask the real outcome
        log.warning("stopping %s: %s", chat.platform, exc)


async def _close_source(source: PaperSource) -> None:
    try:
        await source.aclose()
    except Exception as exc:
        log.warning("closing source %s: %s", source.name, exc)
