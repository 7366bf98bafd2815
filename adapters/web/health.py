"""`GET /healthz`: whether the bot is up (its database answers), for a platform's health probe.

Slack over HTTP serves it beside `/slack/events` (adapters/slack/server.py); a bot with no
HTTP front end (Slack in Socket Mode, Discord, sources only) serves it alone on PAPERBOT_PORT.
Either way `/metrics` (adapters/web/metrics.py) is served beside it.
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


async def serve_health(
    health: Health, host: str, port: int, routes: Sequence[web.RouteDef] = ()
) -> web.AppRunner | None:
    """Serve HEALTH_PATH (and `routes`: /metrics) alone on host:port; None (and a warning) if
    the port cannot be had, since a health probe is a convenience the bot can run without."""
    app = web.Application()
    app.add_routes([web.get(HEALTH_PATH, health_handler(health)), *routes])
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
