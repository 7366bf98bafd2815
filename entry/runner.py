"""`paperbot run`: the long-running bot, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from adapters.scheduling.timer import ApsTimer
from adapters.web.health import serve_health
from adapters.web.metrics import PrometheusMetrics, StoreFigures, metrics_route
from bot.commands.base import command_name
from bot.delivery.scheduler import Scheduler
from bot.models import Command, Reply
from bot.ports import Chat, ChatError, CommandHandler, Metrics, TransientChatError
from bot.stores import Stores
from config.settings import Settings
from entry.app import App, open_app, retention
from storage.locks import AlreadyRunning, holding_database

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
START_RETRY_FIRST_S = 5.0  # a platform unreachable at start is tried again after this, doubling
START_RETRY_MAX_S = 300.0


class RunError(Exception):
    """The bot cannot start; the message says why."""


async def store_figures(stores: Stores) -> StoreFigures:
    """The database's figures for /metrics: papers stored, ledger papers per state."""
    totals = {"pending": 0, "set_aside": 0, "sent": 0}
    for states in (await stores.deliveries.counts()).values():
        totals["pending"] += states.get("pending", 0) + states.get("sending", 0)
        totals["set_aside"] += states.get("rejected", 0)
        totals["sent"] += states.get("sent", 0)
    return StoreFigures(await stores.papers.count(), totals)


def timed(
    handler: CommandHandler, metrics: Metrics, known: Callable[[str], bool]
) -> CommandHandler:
    """`handler`, observing each command's latency (unknown command words count as `unknown`,
    so what users type cannot grow the metrics without bound)."""

    async def on_command(command: Command) -> Reply:
        started = time.perf_counter()
        reply = await handler(command)
        name = command_name(command.text)
        metrics.command(
            name if known(name) else "unknown", time.perf_counter() - started, ok=not reply.error
        )
        return reply

    return on_command


async def keep_starting(
    name: str,
    chat: Chat,
    on_command: CommandHandler,
    first_error: Exception,
    app: App,
    *,
    sleep: Sleep = asyncio.sleep,
    first: float = START_RETRY_FIRST_S,
    most: float = START_RETRY_MAX_S,
) -> bool:
    """Start a platform that could not be reached, backing off between tries, until it starts
    (True) or refuses our credentials (False: it stays off for this run)."""
    log.warning("%s unreachable at start (%s): trying again in the background", name, first_error)
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TransientChatError),
        wait=wait_exponential_jitter(multiplier=first, max=most, jitter=first),
        sleep=sleep,
        before_sleep=lambda state: log.warning(
            "%s still unreachable (try %d): %s",
            name,
            state.attempt_number,
            state.outcome.exception() if state.outcome else "?",
        ),
        reraise=True,
    )
    try:
        await sleep(first)
        async for attempt in retrying:
            with attempt:
                await chat.start(on_command)
    except ChatError as exc:
        log.error("%s not started: %s (the rest of the bot goes on)", name, exc)
        app.pipeline.disabled_platforms[name] = f"{name} not started: {exc}"
        return False
    log.info("%s started after being unreachable", name)
    return True


def running_line(
    sources: list[str], started: list[str], retrying: list[str], failed: list[str]
) -> str:
    """The closing line of start-up: what runs, what is still being tried, what is off."""
    line = (
        f"paperbot running: sources {', '.join(sources) or 'none'}; platforms {', '.join(started)}"
    )
    if retrying:
        line += f"; still connecting: {', '.join(retrying)}"
    if failed:
        line += f"; not started: {', '.join(failed)}"
    return line


async def run_bot(
    settings: Settings, stop: asyncio.Event | None = None, *, sleep: Sleep = asyncio.sleep
) -> None:
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
    metrics = PrometheusMetrics()
    opened: list[App] = []

    async def figures() -> StoreFigures:
        return await store_figures(opened[0].stores)

    routes = [metrics_route(metrics, figures)]
    with held:
        async with open_app(settings, metrics=metrics, routes=routes) as app:
            opened.append(app)
            await _serve(app, settings, metrics, routes, stop, sleep)


async def _serve(
    app: App,
    settings: Settings,
    metrics: Metrics,
    routes: list,
    stop: asyncio.Event,
    sleep: Sleep,
) -> None:
    scheduler = Scheduler(
        app.pipeline,
        ApsTimer(),
        poll_interval=timedelta(minutes=settings.poll_minutes),
        sweep_every=timedelta(seconds=settings.sweep_seconds),
        retention=retention(settings),
    )
    app.handler.on_channel_change = scheduler.on_channel_change
    on_command = timed(
        app.handler, metrics, lambda n: hasattr(app.handler, f"_cmd_{n.replace('-', '_')}")
    )
    started: list[str] = []
    failed: list[str] = []
    retries: dict[str, asyncio.Task[bool]] = {}
    for name, chat in list(app.chats.items()):
        try:
            await chat.start(on_command)
        except TransientChatError as exc:  # network down, connection refused: try again later
            retries[name] = asyncio.create_task(
                keep_starting(name, chat, on_command, exc, app, sleep=sleep),
                name=f"start-{name}",
            )
        except ChatError as exc:  # bad token, port taken: go on without it
            log.error("%s not started: %s (the rest of the bot goes on)", name, exc)
            app.pipeline.disabled_platforms[name] = f"{name} not started: {exc}"
            failed.append(name)
        else:
            started.append(name)
    if set(app.chats) <= {"console"}:
        log.warning(
            "no chat platform is set up (SLACK_BOT_TOKEN, DISCORD_BOT_TOKEN, PAPERBOT_SMTP_URL): "
            "paperbot polls "
            "and stores papers; `paperbot digest --channel console:...` shows digests"
        )
    # Slack over HTTP serves /healthz, /metrics and /unsubscribe beside its events (also once
    # it has been reached after a retry); otherwise they stand alone.
    slack_http = any(
        getattr(chat, "mode", None) == "http" and name not in failed
        for name, chat in app.chats.items()
    )
    web_server = None
    if app.health is not None and not slack_http:
        web_server = await serve_health(app.health, "0.0.0.0", settings.port, app.routes)
    await app.pipeline.sync_subscriptions()
    # Subscriptions and their index live for the process's life: keep the collector
    # from rescanning them on every cycle.
    gc.freeze()
    await scheduler.start()
    came_up = [n for n, t in retries.items() if t.done() and not t.cancelled() and t.result()]
    gave_up = [n for n, t in retries.items() if t.done() and n not in came_up]
    still = [n for n, t in retries.items() if not t.done()]
    line = running_line(list(app.sources), started + came_up, still, failed + gave_up)
    log.info(line)
    await stop.wait()
    log.info("stopping")
    for task in retries.values():
        task.cancel()
    await asyncio.gather(*retries.values(), return_exceptions=True)
    await scheduler.stop()
    for chat in app.chats.values():
        try:
            await chat.stop()
        except Exception as exc:
            log.warning("stopping %s: %s", chat.platform, exc)
    if web_server is not None:
        await web_server.cleanup()
