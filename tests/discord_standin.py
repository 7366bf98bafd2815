"""A local stand-in of Discord's REST API and gateway, for discord.py pointed at it.

aiohttp on 127.0.0.1 (ephemeral port). It records every request and answers the calls paperbot
makes, shaped as Discord answers them:
- REST under `/api/v10`: `GET /users/@me` (login; 401 for a wrong `Bot` token),
  `GET /oauth2/applications/@me`, `GET /gateway/bot`, `PUT` of global and guild commands,
  `POST /channels/{id}/messages` (a message object; a repeated `nonce` sent with `enforce_nonce`
  returns the message already created instead of posting again), interaction callbacks, and
  follow-ups (`/webhooks/{app}/{token}`); messages keep their components (buttons), and files sent
  as multipart/form-data are recorded and listed as the message's attachments.
- A gateway at `/gateway`: HELLO, READY after IDENTIFY, heartbeat ACKs, and `push_interaction`
  sends INTERACTION_CREATE, so interactions go through discord.py's own parsing and CommandTree
  (and, for a button press made with `component_payload`, its view store and DynamicItems).
- `fail(...)` answers the next matching requests with an error: a 429 (`retry_after` in the
  body, and the `Via` header real Discord responses carry: discord.py treats a 429 without it as
  a Cloudflare ban), a 403 or a 404, a 5xx.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

FIXTURES = Path(__file__).parent / "fixtures"
API_PREFIX = "/api/v10"
APP_ID = "1250000000000000001"
TOKEN = "standin-bot-token"
GUILD_ID = "290926798626357999"
CHANNEL_ID = "645027906669510667"
USER_ID = "53908232506183680"
ALL_PERMISSIONS = "2147483647"
MEMBER_PERMISSIONS = str((1 << 10) | (1 << 11) | (1 << 16))  # view channel, send, read history

MISSING_ACCESS = {"message": "Missing Access", "code": 50001}
UNKNOWN_CHANNEL = {"message": "Unknown Channel", "code": 10003}
UNAUTHORIZED = {"message": "401: Unauthorized", "code": 0}


@dataclass(frozen=True)
class Recorded:
    """One request as the stand-in received it (path relative to /api/v10)."""

    method: str
    path: str
    query: Mapping[str, str]
    body: Any
    headers: Mapping[str, str]
    files: tuple[tuple[str, bytes], ...] = ()  # (filename, bytes) of a multipart upload


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int


def rate_limit_body(retry_after: float, is_global: bool = False) -> dict[str, Any]:
    """Discord's 429 body (the documented sample) with another `retry_after`."""
    body = json.loads((FIXTURES / "discord_rate_limit_429_user_body.json").read_text())
    body.update(retry_after=retry_after, **{"global": is_global})
    return body


def rate_limit_headers(retry_after: float) -> dict[str, str]:
    """The headers of Discord's documented per-route 429, timed for `retry_after`."""
    sample = (FIXTURES / "discord_rate_limit_429_user.http").read_text()
    headers = dict(
        line[2:].split(": ", 1)
        for line in sample.splitlines()
        if line.startswith("< ") and ": " in line
    )
    headers.pop("Content-Type", None)
    headers["Retry-After"] = str(max(1, round(retry_after)))
    headers["X-RateLimit-Reset-After"] = str(retry_after)
    headers["X-RateLimit-Reset"] = f"{time.time() + retry_after:.3f}"
    return headers


def _option(name: str, value: Any, focused: bool = False) -> dict[str, Any]:
    kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 3
    option = {"type": kind, "name": name, "value": value}
    if focused:
        option["focused"] = True
    return option


_interaction_ids = itertools.count(786008729715212338)


def interaction_payload(
    subcommand: str,
    options: Mapping[str, Any] | None = None,
    *,
    guild_id: str | None = GUILD_ID,
    channel_id: str = CHANNEL_ID,
    user_id: str = USER_ID,
    permissions: str = ALL_PERMISSIONS,
    autocomplete: str | None = None,
) -> dict[str, Any]:
    """An APPLICATION_COMMAND interaction for `/papers <subcommand> <options>`, in the shape of
    Discord's documented sample (tests/fixtures/discord_interaction_command.json) plus the fields
    Discord sends today (application_id, version, channel, context...). `autocomplete` names the
    focused option and makes it an APPLICATION_COMMAND_AUTOCOMPLETE (type 4) interaction."""
    payload = json.loads((FIXTURES / "discord_interaction_command.json").read_text())
    iid = str(next(_interaction_ids))
    sub_options = [_option(k, v, k == autocomplete) for k, v in (options or {}).items()]
    payload.update(
        id=iid,
        token=f"interaction-token-{iid}",
        type=4 if autocomplete else 2,
        application_id=APP_ID,
        version=1,
        attachment_size_limit=10_485_760,
        channel_id=channel_id,
        channel={
            "id": channel_id,
            "type": 0,
            "guild_id": guild_id,
            "name": "papers",
            "position": 3,
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "flags": 0,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "permissions": permissions,
        },
        context=0 if guild_id else 1,
        authorizing_integration_owners={"0": guild_id} if guild_id else {"1": user_id},
        entitlements=[],
        data={
            "id": "771825006014889984",
            "type": 1,
            "name": "papers",
            "options": [{"type": 1, "name": subcommand, "options": sub_options}],
        },
    )
    if guild_id:
        payload["guild_id"] = guild_id
        member = payload["member"]
        member["user"]["id"] = user_id
        member["permissions"] = permissions
        # Member fields Discord has added since the documented sample was written.
        member.update(flags=0, avatar=None, banner=None, communication_disabled_until=None)
    else:
        user = payload.pop("member")["user"]
        user["id"] = user_id
        payload.pop("guild_id", None)
        payload["user"] = user
        payload["channel"] = {"id": channel_id, "type": 1, "recipients": [user]}
    return payload


def component_payload(
    custom_id: str,
    message: Mapping[str, Any],
    *,
    user_id: str = USER_ID,
    permissions: str = ALL_PERMISSIONS,
    guild_id: str = GUILD_ID,
) -> dict[str, Any]:
    """A MESSAGE_COMPONENT interaction (type 3): the button `custom_id` pressed on `message` (a
    message object as the stand-in returned it, components and all), as Discord sends it."""
    payload = interaction_payload(
        "list", user_id=user_id, permissions=permissions, guild_id=guild_id
    )
    payload.update(
        type=3,
        message=dict(message),
        data={"custom_id": custom_id, "component_type": 2},
    )
    return payload


class DiscordStandIn:
    """Discord's REST API and gateway on 127.0.0.1; see the module docstring."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.requests: list[Recorded] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.threads: dict[str, dict[str, str]] = {}  # thread id -> parent channel and message
        self.gateway_events: list[dict[str, Any]] = []
        self.send_ready = True  # False: a gateway that accepts IDENTIFY but never gets ready
        self._failures: list[_Failure] = []
        self._bodies: dict[int, tuple[Any, list[tuple[str, bytes]]]] = {}  # request -> parsed
        self._by_nonce: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1_300_000_000_000_000_000)
        self._seq = itertools.count(1)
        self._sockets: set[web.WebSocketResponse] = set()
        self._identified = asyncio.Event()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.bot_user = {
            "id": APP_ID,
            "username": "paperbot",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "flags": 0,
        }

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What PAPERBOT_DISCORD_API_URL would be set to."""
        return self.base_url + API_PREFIX

    async def __aenter__(self) -> DiscordStandIn:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/gateway", self._gateway)
        p = API_PREFIX
        app.router.add_get(p + "/users/@me", self._me)
        app.router.add_get(p + "/oauth2/applications/@me", self._application)
        app.router.add_get(p + "/gateway/bot", self._gateway_bot)
        app.router.add_put(p + "/applications/{app}/commands", self._put_commands)
        app.router.add_put(p + "/applications/{app}/guilds/{guild}/commands", self._put_commands)
        app.router.add_post(p + "/channels/{channel}/messages", self._create_message)
        app.router.add_post(
            p + "/channels/{channel}/messages/{message}/threads", self._start_thread
        )
        app.router.add_post(p + "/interactions/{iid}/{token}/callback", self._callback)
        app.router.add_post(p + "/webhooks/{app}/{token}", self._followup)
        app.router.add_patch(p + "/webhooks/{app}/{token}/messages/{mid}", self._edit_original)
        app.router.add_delete(p + "/webhooks/{app}/{token}/messages/{mid}", self._no_content)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- control from tests ---------------------------------------------------------------

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests matching `method` and the `path` regex with `status`."""
        self._failures.append(
            _Failure(method, re.compile(path), status, body, dict(headers or {}), times)
        )

    def rate_limit(self, method: str, path: str, retry_after: float, times: int = 1) -> None:
        """Answer the next matching requests with Discord's 429."""
        self.fail(
            method, path, 429, rate_limit_body(retry_after), rate_limit_headers(retry_after), times
        )

    async def push_interaction(self, payload: Mapping[str, Any]) -> None:
        """Send INTERACTION_CREATE to the connected bot, as the gateway does."""
        await asyncio.wait_for(self._identified.wait(), 5)
        event = {"op": 0, "t": "INTERACTION_CREATE", "s": next(self._seq), "d": dict(payload)}
        for ws in list(self._sockets):
            await ws.send_json(event)

    def calls(self, method: str, path: str) -> list[Recorded]:
        """Recorded requests with this method whose path matches the regex `path` fully."""
        pattern = re.compile(path)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    def answers(self, payload: Mapping[str, Any]) -> list[Recorded]:
        """Every request answering the interaction `payload`: callback, follow-ups, edits."""
        return [
            r for r in self.requests if str(payload["token"]) in r.path and r.path.count("/") >= 3
        ]

    @property
    def connected(self) -> int:
        """How many identified gateway sessions are open."""
        return len(self._sockets)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds (checked after every request and gateway (dis)connection);
        at most 5 s."""
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(predicate)

    def _body(self, request: web.Request) -> Any:
        return self._bodies[id(request)][0]

    def _files(self, request: web.Request) -> list[tuple[str, bytes]]:
        return self._bodies[id(request)][1]

    # --- HTTP -----------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.path == "/gateway":
            return await handler(request)
        files: list[tuple[str, bytes]] = []
        if request.content_type == "multipart/form-data":  # a message with attachments
            body = None
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    files.append((part.filename or "", bytes(await part.read())))  # type: ignore[union-attr]
        else:
            body = await request.json() if request.can_read_body else None
        self._bodies[id(request)] = (body, files)
        path = request.path.removeprefix(API_PREFIX)
        self.requests.append(
            Recorded(
                request.method, path, dict(request.query), body, dict(request.headers), tuple(files)
            )
        )
        try:
            return await self._answer(request, path, handler)
        finally:
            self._bodies.pop(id(request), None)
            await self._notify()

    async def _answer(
        self, request: web.Request, path: str, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        for failure in self._failures:
            if failure.times > 0 and failure.method == request.method and failure.path.search(path):
                failure.times -= 1
                return _json(failure.body, failure.status, {"Via": "1.1 google", **failure.headers})
        # Interaction callbacks and follow-ups are authorised by the token in their URL.
        authorised = path.startswith(("/interactions/", "/webhooks/"))
        if not authorised and request.headers.get("Authorization") != f"Bot {self.token}":
            return _json(UNAUTHORIZED, 401)
        return await handler(request)

    async def _me(self, request: web.Request) -> web.Response:
        return _json({**self.bot_user, "verified": True, "mfa_enabled": False})

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": APP_ID,
                "name": "paperbot",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": {**self.bot_user, "id": USER_ID, "username": "owner", "bot": False},
            }
        )

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": f"ws://127.0.0.1:{self.port}/gateway",
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14400000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _put_commands(self, request: web.Request) -> web.Response:
        guild = request.match_info.get("guild")
        commands = []
        for command in await request.json():
            stored = {**command, "id": str(next(self._ids)), "application_id": APP_ID}
            stored["version"] = stored["id"]
            if guild:
                stored["guild_id"] = guild
            commands.append(stored)
        self.commands[guild or "global"] = commands
        return _json(commands)

    def _message(
        self,
        channel_id: str,
        body: Mapping[str, Any],
        files: list[tuple[str, bytes]] | None = None,
    ) -> dict[str, Any]:
        content = body.get("content") or ""
        allowed = body.get("allowed_mentions")
        parse = allowed.get("parse", []) if allowed else ["everyone", "users", "roles"]
        return {
            "id": str(next(self._ids)),
            "channel_id": channel_id,
            "type": 0,
            "content": content,
            "embeds": body.get("embeds") or [],
            "author": self.bot_user,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": "everyone" in parse
            and bool(re.search(r"@(everyone|here)", content)),
            "mentions": re.findall(r"<@!?(\d+)>", content) if "users" in parse else [],
            "mention_roles": re.findall(r"<@&(\d+)>", content) if "roles" in parse else [],
            "attachments": [
                {
                    "id": str(next(self._ids)),
                    "filename": name,
                    "size": len(data),
                    "url": f"{self.base_url}/attachments/{name}",
                    "proxy_url": f"{self.base_url}/attachments/{name}",
                }
                for name, data in files or []
            ],
            "pinned": False,
            "flags": body.get("flags", 0),
            "components": body.get("components") or [],
            "nonce": body.get("nonce"),
        }

    async def _create_message(self, request: web.Request) -> web.Response:
        channel = request.match_info["channel"]
        body = self._body(request)
        if problems := message_problems(body):
            return _invalid(problems)
        nonce = body.get("nonce")
        if nonce and body.get("enforce_nonce") and nonce in self._by_nonce:
            return _json(self._by_nonce[nonce])
        message = self._message(channel, body, self._files(request))
        self.messages.setdefault(channel, []).append(message)
        if nonce:
            self._by_nonce[nonce] = message
        return _json(message)

    async def _start_thread(self, request: web.Request) -> web.Response:
        parent = request.match_info["channel"]
        body = await request.json()
        thread_id = str(next(self._ids))
        self.threads[thread_id] = {"parent": parent, "message": request.match_info["message"]}
        return _json(
            {
                "id": thread_id,
                "type": 11,
                "guild_id": GUILD_ID,
                "parent_id": parent,
                "name": body["name"],
                "owner_id": APP_ID,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": body.get("auto_archive_duration", 1440),
                    "archive_timestamp": datetime.now(UTC).isoformat(),
                    "locked": False,
                },
                "message_count": 0,
                "member_count": 1,
                "rate_limit_per_user": 0,
                "flags": 0,
            }
        )

    async def _callback(self, request: web.Request) -> web.Response:
        body = self._body(request)
        kind = body["type"]
        data = body.get("data") or {}
        if problems := message_problems(data):
            return _invalid(problems)
        ephemeral = bool(data.get("flags", 0) & 64)
        interaction: dict[str, Any] = {
            "id": request.match_info["iid"],
            "type": 2,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": ephemeral,
        }
        answer: dict[str, Any] = {"interaction": interaction}
        if kind in (4, 5):
            message = self._message(CHANNEL_ID, data, self._files(request))
            interaction["response_message_id"] = message["id"]
            if kind == 4:
                answer["resource"] = {"type": kind, "message": message}
        return _json(answer)

    async def _followup(self, request: web.Request) -> web.Response:
        body = self._body(request)
        if problems := message_problems(body):
            return _invalid(problems)
        return _json(self._message(CHANNEL_ID, body, self._files(request)))

    async def _edit_original(self, request: web.Request) -> web.Response:
        return _json(self._message(CHANNEL_ID, self._body(request), self._files(request)))

    async def _no_content(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    # --- gateway --------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 45_000}, "s": None, "t": None})
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            event = json.loads(msg.data)
            self.gateway_events.append(copy.deepcopy(event))
            if event["op"] == 1:
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif event["op"] == 2:
                if event["d"].get("token") != self.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                self._sockets.add(ws)
                if not self.send_ready:
                    continue
                await ws.send_json(self._ready())
                self._identified.set()
                await self._notify()
        self._sockets.discard(ws)
        await self._notify()
        return ws

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _ready(self) -> dict[str, Any]:
        return {
            "op": 0,
            "t": "READY",
            "s": next(self._seq),
            "d": {
                "v": 10,
                "user": self.bot_user,
                "guilds": [],
                "session_id": "standin-session",
                "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                "application": {"id": APP_ID, "flags": 0},
                "private_channels": [],
            },
        }


def message_problems(body: Mapping[str, Any]) -> list[str]:
    """Why Discord would answer 400 Invalid Form Body to this message, per its documented limits."""
    problems = []
    content = body.get("content") or ""
    embeds = body.get("embeds") or []
    if len(content) > 2000:
        problems.append(f"content: {len(content)} > 2000 characters")
    if len(embeds) > 10:
        problems.append(f"embeds: {len(embeds)} > 10")
    total = 0
    for i, embed in enumerate(embeds):
        texts = [
            ("title", embed.get("title"), 256),
            ("description", embed.get("description"), 4096),
            ("footer.text", (embed.get("footer") or {}).get("text"), 2048),
            ("author.name", (embed.get("author") or {}).get("name"), 256),
        ]
        fields = embed.get("fields") or []
        if len(fields) > 25:
            problems.append(f"embeds.{i}.fields: {len(fields)} > 25")
        for f in fields:
            texts += [("field.name", f["name"], 256), ("field.value", f["value"], 1024)]
        for key, text, limit in texts:
            size = len((text or "").strip())  # Discord trims before counting
            total += size
            if size > limit:
                problems.append(f"embeds.{i}.{key}: {size} > {limit} characters")
        url = embed.get("url")
        if url is not None and not re.match(r"^https?://\S+$", url):
            problems.append(f"embeds.{i}.url: not a well formed URL")
    if total > 6000:
        problems.append(f"embeds: {total} > 6000 characters in all")
    problems.extend(component_problems(body.get("components") or []))
    return problems


def component_problems(rows: list[dict[str, Any]]) -> list[str]:
    """Why Discord would refuse these message components: ≤ 5 action rows of ≤ 5 buttons, each
    button with a label or an emoji, a custom_id of 1-100 characters, unique in the message."""
    problems = []
    if len(rows) > 5:
        problems.append(f"components: {len(rows)} > 5 action rows")
    ids: list[str] = []
    for i, row in enumerate(rows):
        buttons = row.get("components") or []
        if row.get("type") != 1 or not 1 <= len(buttons) <= 5:
            problems.append(f"components.{i}: an action row holds 1 to 5 components")
        for button in buttons:
            cid = button.get("custom_id", "")
            ids.append(cid)
            if button.get("type") != 2 or not 1 <= len(cid) <= 100:
                problems.append(f"components.{i}: bad button custom_id {cid!r}")
            if not button.get("label") and not button.get("emoji"):
                problems.append(f"components.{i}: a button needs a label or an emoji")
            if len(button.get("label") or "") > 80:
                problems.append(f"components.{i}: label over 80 characters")
    if len(ids) != len(set(ids)):
        problems.append("components: custom_id values must be unique in a message")
    return problems


def _invalid(problems: list[str]) -> web.Response:
    return _json({"message": "Invalid Form Body", "code": 50035, "errors": problems}, 400)


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # Exactly `application/json`, as Discord sends it: discord.py reads any other type as text.
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )
