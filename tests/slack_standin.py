"""A local stand-in of the Slack Web API, for tests that drive slack_sdk and Bolt for real.

An aiohttp server on 127.0.0.1 (ephemeral port) that records every call and answers like Slack:
auth.test, chat.postMessage (checking Slack's block limits; a D channel only if it is the bot's
DM with someone), conversations.history (with message metadata), conversations.open (the bot's
DM with a user, `D` + the user id's tail), users.info, apps.connections.open plus a Socket Mode
WebSocket, response_url posts, and the three steps of slack_sdk's files_upload_v2
(files.getUploadURLExternal, the POST of the bytes to the upload URL it returned,
files.completeUploadExternal sharing them to a channel).
On demand it fails a method: a 429 with Retry-After, or an error such as `is_archived`.

    async with SlackStandin() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        slack.rate_limit("chat.postMessage", retry_after=1)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3_000
MAX_HEADER_TEXT = 150
MAX_TEXT = 40_000
MAX_ACTION_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2_000
MAX_ID = 255  # action_id and block_id
# A fault that lets the call do its work, then drops the connection before answering.
LOST_RESPONSE = "lost_response"


@dataclass
class Call:
    """One Web API call as the stand-in received it."""

    method: str
    args: dict[str, Any]
    token: str | None


@dataclass
class Fault:
    """A planned failure of a method: HTTP status, Slack error code, Retry-After, how many times."""

    status: int
    error: str
    retry_after: float | None = None
    times: int | None = 1
    skip: int = 0


@dataclass
class Workspace:
    """Who the stand-in says the bot is."""

    team_id: str = "T0STANDIN"
    team: str = "Stand-in Lab"
    bot_user_id: str = "U0PAPERBOT"
    bot_id: str = "B0PAPERBOT"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)


def dm_channel(user_id: str) -> str:
    """The id of the bot's DM with `user_id` in the stand-in: `D` + the user id after its `U`."""
    return "D" + user_id.removeprefix("U")


def sign(secret: str, timestamp: str | int, body: str) -> str:
    """Slack's request signature: `v0=` + hex HMAC-SHA256(secret, `v0:{timestamp}:{body}`)."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, timestamp: str | int, body: str) -> dict[str, str]:
    """The headers Slack sends with a signed form-encoded request."""
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": sign(secret, timestamp, body),
    }


def slash_command_body(
    *,
    text: str,
    response_url: str,
    team_id: str = "T0STANDIN",
    channel_id: str = "C0PAPERS",
    channel_name: str = "papers",
    user_id: str = "U0ALICE",
    command: str = "/papers",
) -> str:
    """A slash-command payload, form-encoded in the order Slack sends its fields.

    `text` is what the user typed; like Slack, its `&`, `<` and `>` are sent as entities.
    """
    return urlencode(
        {
            "token": "xyzz0WbapA4vBCDEFasx0q6G",
            "team_id": team_id,
            "team_domain": "standin",
            "channel_id": channel_id,
            "channel_name": channel_name,  # "directmessage" in any DM (channel_id D...)
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
            "api_app_id": "A0PAPERBOT",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        }
    )


def block_actions_payload(
    *,
    action_id: str,
    value: str,
    response_url: str,
    message: dict[str, Any] | None = None,
    message_ts: str = "1767225601.000100",
    team_id: str = "T0STANDIN",
    channel_id: str = "C0PAPERS",
    user_id: str = "U0ALICE",
    block_id: str = "paper:0123456789abcdef",
    label: str = "👍",
) -> dict[str, Any]:
    """A `block_actions` payload for a button pressed on a message in a channel, in the shape
    Slack documents (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload):
    who pressed (`user`), where (`team`, `channel`, `container`), the message as posted, the
    response_url, and the one action with its `action_id` and `value`."""
    posted = message or {
        "type": "message",
        "user": "U0PAPERBOT",
        "bot_id": "B0PAPERBOT",
        "ts": message_ts,
        "text": "New papers: 1 paper",
        "blocks": [],
        "team": team_id,
    }
    return {
        "type": "block_actions",
        "user": {
            "id": user_id,
            "username": user_id.lower(),
            "name": user_id.lower(),
            "team_id": team_id,
        },
        "api_app_id": "A0PAPERBOT",
        "token": "xyzz0WbapA4vBCDEFasx0q6G",
        "container": {
            "type": "message",
            "message_ts": posted["ts"],
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        "team": {"id": team_id, "domain": "standin"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "papers"},
        "message": posted,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": "1767225700.123456",
            }
        ],
    }


def interactive_body(payload: dict[str, Any]) -> str:
    """An interaction as Slack POSTs it over HTTP: form-encoded, the JSON in `payload`."""
    return urlencode({"payload": json.dumps(payload)})


class SlackStandin:
    """The stand-in server. Use as `async with SlackStandin() as slack:`."""

    def __init__(
        self,
        bot_token: str = "xoxb-standin-token",
        app_token: str = "xapp-standin-token",
        workspace: Workspace | None = None,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.workspace = workspace or Workspace()
        self.calls: list[Call] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.dms: set[str] = set()  # the bot's DM channels (opened, or pre-existing)
        self.thread_replies: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.responses: list[dict[str, Any]] = []
        self.socket_acks: list[dict[str, Any]] = []
        self.uploads: dict[str, dict[str, Any]] = {}  # file id -> name, length, bytes
        self.files: dict[str, list[dict[str, Any]]] = {}  # channel -> files shared there
        self.members: set[str] | None = None  # channels the bot is in (None: all of them)
        self.revoked = False
        self._faults: dict[str, list[Fault]] = {}
        self._ts = itertools.count(1)
        self._responses: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._socket: web.WebSocketResponse | None = None
        self._socket_ready = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> SlackStandin:
        app = web.Application()
        app.add_routes(
            [
                web.route("*", "/api/{method}", self._api),
                web.post("/respond/{key}", self._respond),
                web.post("/upload/{file_id}", self._upload),
                web.get("/link/", self._websocket),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        """The Web API base URL to give AsyncWebClient (`base_url`)."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, key: str = "command") -> str:
        """A response_url whose posts land in `responses`."""
        return f"http://127.0.0.1:{self.port}/respond/{key}"

    # --- steering ----------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        error: str,
        *,
        status: int = 200,
        retry_after: float | None = None,
        times: int | None = 1,
        skip: int = 0,
    ) -> None:
        """Make `times` calls of `method` (None: all), after the next `skip`, fail with `error`.

        `error` is a Slack error code, or LOST_RESPONSE: the call takes effect, no answer comes.
        """
        self._faults.setdefault(method, []).append(Fault(status, error, retry_after, times, skip))

    def rate_limit(self, method: str, retry_after: float, times: int | None = 1) -> None:
        """Answer `method` with HTTP 429, `Retry-After`, `{"ok": false, "error": "ratelimited"}`."""
        self.fail(method, "ratelimited", status=429, retry_after=retry_after, times=times)

    def add_user(self, user_id: str, *, is_admin: bool = False, is_owner: bool = False) -> None:
        """A workspace member that users.info knows."""
        self.workspace.users[user_id] = {
            "id": user_id,
            "team_id": self.workspace.team_id,
            "name": user_id.lower(),
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": False,
            "is_bot": False,
        }

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls of one method."""
        return [c for c in self.calls if c.method == method]

    def posted(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages posted to `channel`, oldest first."""
        return self.messages.get(channel, [])

    async def next_response(self, within: float = 5.0) -> dict[str, Any]:
        """The next message posted to a response_url (waits for it)."""
        return await asyncio.wait_for(self._responses.get(), within)

    async def send_slash_command(
        self, payload: dict[str, Any], within: float = 5.0
    ) -> dict[str, Any]:
        """Deliver a slash command over Socket Mode, as Slack does; return the app's ack."""
        return await self.send_envelope("slash_commands", payload, within)

    async def send_interactive(
        self, payload: dict[str, Any], within: float = 5.0
    ) -> dict[str, Any]:
        """Deliver an interaction (a `block_actions` button press) over Socket Mode."""
        return await self.send_envelope("interactive", payload, within)

    async def send_envelope(
        self, kind: str, payload: dict[str, Any], within: float = 5.0
    ) -> dict[str, Any]:
        """Deliver a Socket Mode envelope of type `kind`; return the app's ack."""
        await asyncio.wait_for(self._socket_ready.wait(), within)
        assert self._socket is not None
        envelope_id = str(uuid.uuid4())
        waiter = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = waiter
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": True,
            "payload": payload,
        }
        await self._socket.send_str(json.dumps(envelope))
        return await asyncio.wait_for(waiter, within)

    # --- the Web API -------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        elif request.can_read_body:
            args.update(await request.post())
        auth = request.headers.get("Authorization", "")
        token = (
            auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.pop("token", None)
        )
        self.calls.append(Call(method, args, token))

        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if self.revoked:
            return _error("token_revoked")
        if token != expected:
            return _error("invalid_auth")
        fault = self._take_fault(method)
        if fault is not None and fault.error == LOST_RESPONSE:
            handler = self._handlers().get(method)
            if handler is not None:
                handler(args)  # Slack did the work...
            assert request.transport is not None
            request.transport.close()  # ...but its answer never arrives
            return web.Response()
        if fault is not None:
            headers = (
                {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            )
            return _error(fault.error, status=fault.status, headers=headers)
        handler = self._handlers().get(method)
        if handler is None:
            return _error("unknown_method", status=404)
        # A handler's answer may override "ok" with its own error, as Slack's does.
        return web.json_response({"ok": True, **handler(args)})

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "conversations.history": self._conversations_history,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "apps.connections.open": self._apps_connections_open,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }

    def _take_fault(self, method: str) -> Fault | None:
        faults = self._faults.get(method)
        if not faults:
            return None
        fault = faults[0]
        if fault.skip > 0:
            fault.skip -= 1
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                faults.pop(0)
        return fault

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        ws = self.workspace
        return {
            "url": f"https://{ws.team.lower().replace(' ', '')}.slack.com/",
            "team": ws.team,
            "user": "paperbot",
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        problem = _check_limits(args)
        if problem:
            return {"ok": False, "error": problem}
        channel = str(args["channel"])
        if channel.startswith("D") and channel not in self.dms:
            return {"ok": False, "error": "channel_not_found"}  # a DM the bot is not in
        ts = f"{1767225600 + next(self._ts)}.000100"
        message = {
            "type": "message",
            "user": self.workspace.bot_user_id,
            "bot_id": self.workspace.bot_id,
            "ts": ts,
            "text": args.get("text", ""),
            "blocks": args.get("blocks") or [],
        }
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        for key in ("unfurl_links", "unfurl_media"):
            if key in args:
                message[key] = args[key]
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
            self.thread_replies.setdefault((channel, args["thread_ts"]), []).append(message)
        else:
            self.messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": ts, "message": message}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        newest_first = list(reversed(self.messages.get(str(args.get("channel")), [])))
        start = int(args.get("cursor") or 0)
        limit = int(args.get("limit") or 100)
        page = newest_first[start : start + limit]
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        if not with_metadata:
            page = [{k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + limit < len(newest_first)
        return {
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users", ""))
        if not users or "," in users:
            return {"ok": False, "error": "invalid_arguments"}  # one person: an IM, not an MPIM
        channel = dm_channel(users)
        self.dms.add(channel)
        return {"channel": {"id": channel}}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.workspace.users.get(str(args.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"user": user}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/link/?ticket={uuid.uuid4()}"}

    def _get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{len(self.uploads) + 1:08d}"
        self.uploads[file_id] = {
            "name": args["filename"],
            "length": int(args["length"]),
            "content": None,
        }
        return {"upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files = json.loads(args.get("files") or "[]")
        channel = args.get("channel_id")
        if not files:
            return {"ok": False, "error": "invalid_arguments"}
        if channel and self.members is not None and channel not in self.members:
            return {"ok": False, "error": "not_in_channel"}
        done = []
        for entry in files:
            upload = self.uploads.get(entry.get("id", ""))
            if upload is None or upload["content"] is None:
                return {"ok": False, "error": "file_not_found"}
            shared = {
                "id": entry["id"],
                "name": upload["name"],
                "title": entry.get("title") or upload["name"],
                "size": len(upload["content"]),
                "content": upload["content"],
            }
            if channel:
                self.files.setdefault(channel, []).append(shared)
            done.append({k: v for k, v in shared.items() if k != "content"})
        return {"files": done}

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="unknown upload")
        content = await request.read()
        if len(content) != upload["length"]:
            return web.Response(status=400, text="length mismatch")
        upload["content"] = content
        return web.Response(text=f"OK - {len(content)}")

    # --- response_url and Socket Mode ----------------------------------------------------------

    async def _respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        body["_key"] = request.match_info["key"]
        self.responses.append(body)
        self._responses.put_nowait(body)
        return web.Response(text="ok")

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._socket = ws
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self._socket_ready.set()
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            self.socket_acks.append(data)
            waiter = self._acks.pop(data.get("envelope_id", ""), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(data)
        return ws


def _error(error: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status, headers=headers)


def _check_limits(args: dict[str, Any]) -> str | None:
    """Slack's own checks on a message: the error code it would answer, or None."""
    blocks = args.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if len(str(args.get("text", ""))) > MAX_TEXT:
        return "msg_too_long"
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(block_ids) != len(set(block_ids)) or any(len(b) > MAX_ID for b in block_ids):
        return "invalid_blocks"
    for block in blocks:
        if block.get("type") == "actions" and _bad_actions(block):
            return "invalid_blocks"
        text = (block.get("text") or {}).get("text", "")
        if block.get("type") == "section" and not 0 < len(text) <= MAX_SECTION_TEXT:
            return "invalid_blocks"
        if block.get("type") == "header" and not 0 < len(text) <= MAX_HEADER_TEXT:
            return "invalid_blocks"
    return None


def _bad_actions(block: dict[str, Any]) -> bool:
    """Whether an actions block breaks Slack's rules for it (and its buttons)."""
    elements = block.get("elements") or []
    if not 0 < len(elements) <= MAX_ACTION_ELEMENTS:
        return True
    action_ids = [e.get("action_id", "") for e in elements]
    if len(set(action_ids)) != len(action_ids):
        return True
    for element in elements:
        text = (element.get("text") or {}).get("text", "")
        if element.get("type") != "button" or not 0 < len(text) <= MAX_BUTTON_TEXT:
            return True
        if len(element.get("action_id", "")) > MAX_ID:
            return True
        if len(element.get("value", "")) > MAX_BUTTON_VALUE:
            return True
    return False
