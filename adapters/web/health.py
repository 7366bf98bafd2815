"""paperbot's HTTP server: `GET /healthz` (whether the bot is up: its database answers, for a
platform's health probe) and the other routes the bot serves (`/metrics`, `/unsubscribe/...`).

Slack over HTTP serves them beside `/slack/events` (adapters/slack/server.py); a bot with no
HTTP front end (Slack in Socket Mode, Discord, sources only) serves them alone on PAPERBOT_PORT.
Either way `/metrics` (adapters/web/metrics.py) and `/unsubscribe/...` (unsubscribe.py) are
served beside it: every route but Slack's own is in `web_routes`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
HEALTH_TIMEOUT = 5.0  # a check that hangs (a stuck database) answers 503, not never
Health = Callable[[], Awaitable[bool]]


def health_handler(health: Health) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The aiohttp handler answering 200 `{"ok": true}` or 503 `{"ok": false}`."""

    async def healthz(_: web.Request) -> web.Response:
        try:
            ok = bool(await asyncio.wait_for(health(), HEALTH_TIMEOUT))
        except Exception:
            log.exception("health check failed")
            ok = False
        return web.json_response({"ok": ok}, status=200 if ok else 503)

    return healthz


def web_routes(health: Health, extra: Sequence[web.RouteDef] = ()) -> list[web.RouteDef]:
    """Every route paperbot's HTTP server has, whichever front end serves it."""
    return [web.get(HEALTH_PATH, health_handler(health)), *extra]


async def serve_health(
    health: Health, host: str, port: int, routes: Sequence[web.RouteDef] = ()
) -> web.AppRunner | None:
    """Serve HEALTH_PATH and the other `routes` (/metrics, /unsubscribe) alone on host:port;
    None (and a warning) if the port cannot be had, since a health probe is a convenience the
    bot can run without."""
    app = web.Application()
    app.add_routes(web_routes(health, routes))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        log.warning("health check not served on %s:%s: %s", host, port, exc)
        return None
    log.info(
        "health check on http://%s:%s%s%s",
        host,
        port,
        HEALTH_PATH,
        "".join(f", {r.path}" for r in routes if isinstance(r, web.RouteDef)),
    )
    return runner
