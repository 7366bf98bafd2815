"""`paperbot run`: the long-running bot, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from datetime import timedelta

from adapters.scheduling.timer import ApsTimer
from adapters.web.health import serve_health
from bot.delivery.scheduler import Scheduler
from bot.ports import ChatError
from config.settings import Settings
from entry.app import open_app
from storage.locks import AlreadyRunning, holding_database

log = logging.getLogger(__name__)


class RunError(Exception):
    """The bot cannot start; the message says why."""


async def run_bot(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Start every configured platform and the scheduler; run until `stop` or a signal."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    try:
        held = holding_database(settings.database_url)
    except AlreadyRunning as exc:
        raise RunError(str(exc)) from None
    with held:
        async with open_app(settings) as app:
            scheduler = Scheduler(
                app.pipeline,
                ApsTimer(),
                poll_interval=timedelta(minutes=settings.poll_minutes),
                sweep_every=timedelta(seconds=settings.sweep_seconds),
            )
            app.handler.on_channel_change = scheduler.on_channel_change
            for name, chat in list(app.chats.items()):
                try:
                    await chat.start(app.handler)
                except ChatError as exc:  # bad token, unreachable, port taken: go on without it
                    log.error("%s not started: %s (the rest of the bot goes on)", name, exc)
                    app.pipeline.disabled_platforms[name] = f"{name} not started: {exc}"
            # Slack over HTTP serves /healthz beside its events; otherwise it stands alone.
            health_server = None
            if app.health is not None and not any(
                getattr(chat, "address", None) for chat in app.chats.values()
            ):
                health_server = await serve_health(app.health, "0.0.0.0", settings.port)
            await app.pipeline.sync_subscriptions()
            # Subscriptions and their index live for the process's life: keep the collector
            # from rescanning them on every cycle.
            gc.freeze()
            await scheduler.start()
            log.info(
                "paperbot running: sources %s, platforms %s",
                ", ".join(app.sources) or "none",
                ", ".join(app.chats),
            )
            await stop.wait()
            log.info("stopping")
            await scheduler.stop()
            for chat in app.chats.values():
                try:
                    await chat.stop()
                except Exception as exc:
                    log.warning("stopping %s: %s", chat.platform, exc)
            if health_server is not None:
                await health_server.cleanup()
