"""Slack over HTTP: an aiohttp app that verifies Slack's signature and hands requests to Bolt.

`POST /slack/events` takes slash commands (and any other Slack request Bolt knows); each one is
verified first with the signing secret: a bad signature, a missing header or a timestamp more
than 5 minutes off gets 401 and reaches nothing. `GET /healthz` says whether the bot is up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import Clock, SignatureVerifier

from adapters.web.health import Health, web_routes

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def is_signed_by_slack(verifier: SignatureVerifier, body: bytes, headers: object) -> bool:
    """Whether `body` carries a valid, fresh `X-Slack-Signature` (v0 HMAC-SHA256 of the body)."""
    try:
        return verifier.is_valid_request(body, headers)  # type: ignore[arg-type]
    except (ValueError, UnicodeDecodeError):  # a timestamp that is not a number, a body not UTF-8
        return False


def build_web_app(
    app: AsyncApp,
    signing_secret: str,
    health: Health,
    clock: Clock | None = None,
    routes: Sequence[web.RouteDef] = (),
) -> web.Application:
    """The aiohttp application serving Bolt at EVENTS_PATH, beside the health check and the
    bot's other `routes` (adapters/web)."""
    verifier = SignatureVerifier(signing_secret, clock or Clock())

    async def events(request: web.Request) -> web.Response:
        body = await request.read()
        if not is_signed_by_slack(verifier, body, request.headers):
            log.warning(
                "rejected a Slack request with a bad signature or stale timestamp from %s",
                request.remote,
            )
            return web.json_response({"error": "invalid request signature"}, status=401)
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    web_app = web.Application()
    web_app.add_routes([web.post(EVENTS_PATH, events), *web_routes(health, routes)])
    return web_app
