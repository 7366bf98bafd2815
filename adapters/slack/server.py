"""Slack over HTTP: an aiohttp app that verifies Slack's signature and hands requests to Bolt.

`POST /slack/events` takes slash commands (and any other Slack request Bolt knows); each one is
verified first with the signing secret: a bad signature, a missing header or a timestamp more
than 5 minutes off gets 401 and reaches nothing. `GET /healthz` says whether the bot is up.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import Clock, SignatureVerifier

from adapters.web.health import Health, web_routes
from bot.stores import SeenRequests

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
WINDOW = timedelta(minutes=5)  # how far a request's timestamp may be from now (Bolt's check)
RETRIES_KEPT = timedelta(minutes=15)  # Slack retries after about 0 s, 1 min and 5 min
REPLAYED = {
    "response_type": "ephemeral",
    "text": "This request was already received and handled; it was not run again.",
}


def replay_key(headers: Mapping[str, str]) -> str:
    """The key of one signed request: its timestamp and signature."""
    signed = (
        f"{headers.get('X-Slack-Request-Timestamp', '')}:{headers.get('X-Slack-Signature', '')}"
    )
    return "slack-sig:" + hashlib.sha256(signed.encode()).hexdigest()


def body_key(body: bytes) -> str:
    """The key of a request's content, the same in Slack's retries of it."""
    return "slack-body:" + hashlib.sha256(body).hexdigest()


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
    seen: SeenRequests | None = None,
) -> web.Application:
    """The aiohttp application serving Bolt at EVENTS_PATH, beside the health check and the
    bot's other `routes` (adapters/web).

    With `seen`, each accepted request is remembered until its window ends: an exact replay is
    answered without running it again, and Slack's retry of a request already answered
    (`X-Slack-Retry-Num`) is acknowledged only."""
    clock = clock or Clock()
    verifier = SignatureVerifier(signing_secret, clock)

    async def repeated(body: bytes, headers: Mapping[str, str]) -> web.Response | None:
        """The answer to a request seen before, or None for a new one (now remembered)."""
        if seen is None:
            return None
        now = datetime.fromtimestamp(clock.now(), UTC)
        sent_at = datetime.fromtimestamp(int(headers["X-Slack-Request-Timestamp"]), UTC)
        if not await seen.first_time(replay_key(headers), sent_at + WINDOW, now):
            log.warning("answered a replayed Slack request without running it again")
            return web.json_response(REPLAYED)
        first = await seen.first_time(body_key(body), now + RETRIES_KEPT, now)
        if not first and headers.get("X-Slack-Retry-Num"):
            log.info(
                "acknowledged Slack's retry %s of a request already answered (%s)",
                headers.get("X-Slack-Retry-Num"),
                headers.get("X-Slack-Retry-Reason", "no reason given"),
            )
            return web.Response(status=200)
        return None

    async def events(request: web.Request) -> web.Response:
        body = await request.read()
        if not is_signed_by_slack(verifier, body, request.headers):
            log.warning(
                "rejected a Slack request with a bad signature or stale timestamp from %s",
                request.remote,
            )
            return web.json_response({"error": "invalid request signature"}, status=401)
        try:
            answer = await repeated(body, request.headers)
        except Exception as exc:  # the database: refuse rather than risk running a replay
            log.warning("cannot check a Slack request for replay, refused it: %s", exc)
            return web.json_response({"error": "try again later"}, status=503)
        if answer is not None:
            return answer
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    web_app = web.Application()
    web_app.add_routes([web.post(EVENTS_PATH, events), *web_routes(health, routes)])
    return web_app
