"""The Slack edge: `/papers` slash commands and digest buttons in, Block Kit digests out (Bolt).

Socket Mode when an app-level token is given, otherwise HTTP on `port` at `/slack/events`, every
request checked against the signing secret. The adapter only translates: a slash command or a
press of a digest's buttons (`block_actions`) into a Command, a Reply or a Digest into Slack
messages (a Reply's file uploaded to the channel); the work happens in `on_command` and the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.signature import Clock
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.errors import (
    AUTH_FAILED,
    NO_HISTORY,
    Sleep,
    error_code,
    retry_handlers,
    to_chat_error,
)
from adapters.slack.render import (
    PAPER_ACTIONS,
    SlackMessage,
    fits,
    plain_digest,
    render_digest,
    render_reply,
    thread_reply,
    unescape,
)
from adapters.slack.server import EVENTS_PATH, build_web_app
from bot.commands.base import needs_manage
from bot.delivery.digest import paginate
from bot.inbound import clean
from bot.models import ChannelRef, Command, Digest, InvalidChannelId, Reply, Visibility
from bot.ports import (
    ChannelUnavailable,
    ChatAuthError,
    ChatError,
    CommandHandler,
    TransientChatError,
)
from bot.stores import SeenRequests

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from config.settings import Settings

log = logging.getLogger(__name__)

SLASH_COMMAND = "/papers"
ACTION_IDS = re.compile("^(" + "|".join(map(re.escape, PAPER_ACTIONS)) + ")$")
EVENT_TYPE = "paperbot_delivery"
DEFAULT_API_URL = "https://slack.com/api/"
RENDER_CACHE = 256  # pages rendered by paginate() kept for post()
Health = Callable[[], Awaitable[bool]]
_SLACK_FAILURES = (SlackApiError, aiohttp.ClientError, TimeoutError)
DM_CHANNEL_NAME = "directmessage"  # a slash command's channel_name in a direct message
OTHER_DM_REPLY = (
    "paperbot cannot post in a conversation between people. For a digest of your own, open "
    "*paperbot* under Apps in the sidebar and use `/papers` in its Messages tab."
)


class _OtherDirectMessage(Exception):
    """A slash command in a direct message between people, where the bot cannot post."""


# What to tell the user when a file upload fails with one of these Slack error codes.
UPLOAD_HINTS = {
    "not_in_channel": "invite me to this channel (`/invite @paperbot`) and try again",
    "channel_not_found": "invite me to this channel (`/invite @paperbot`) and try again",
    "missing_scope": "the app lacks the `files:write` scope; ask an admin to reinstall it",
    "is_archived": "this channel is archived",
}


def _logger(part: str) -> logging.Logger:
    return logging.getLogger(f"{__name__}.{part}")


class _InheritedLevel(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The logger slack_sdk's web client is given: one whose `level` is the level that decides.

    slack_sdk formats each request's and each response's debug line (the whole message, as
    repr) whenever `logger.level` is DEBUG or below, and a logger that inherits its level has
    its own at 0 (NOTSET): every post paid for two lines no handler printed, about 7% of a
    profiled sweep's samples on the event loop (py-spy, 3,000 channels: ~130 of 1,937).
    """

    @property
    def level(self) -> int:
        """The logger's effective level (its own, or its parents')."""
        return self.logger.getEffectiveLevel()


async def _always_healthy() -> bool:
    return True


class SlackChat:
    """paperbot in Slack: implements bot.ports.Chat for one workspace's bot token."""

    platform = "slack"

    def __init__(
        self,
        *,
        bot_token: str,
        app_token: str | None = None,
        signing_secret: str | None = None,
        api_url: str = DEFAULT_API_URL,
        port: int = 3000,
        admins_only: bool = False,
        admin_users: Sequence[str] = (),
        health: Health = _always_healthy,
        routes: Sequence[web.RouteDef] = (),
        host: str = "0.0.0.0",
        timeout: float = 20.0,
        history_pages: int = 3,
        user_cache_seconds: float = 60.0,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        signature_clock: Clock | None = None,
        seen: SeenRequests | None = None,
    ) -> None:
        if not bot_token:
            raise ValueError("a Slack bot token (xoxb-...) is required")
        if not app_token and not signing_secret:
            raise ValueError(
                "Slack needs SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)"
            )
        self._bot_token = bot_token
        self._app_token = app_token or None
        self._signing_secret = signing_secret or ""
        self._api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._port = port
        self._host = host
        self._admins_only = admins_only
        self._admin_users = frozenset(admin_users)
        self._health = health
        self._routes = tuple(
            routes
        )  # paperbot's other HTTP routes (/metrics, /unsubscribe), beside Slack's
        self._timeout = max(1, round(timeout))
        self._history_pages = max(1, history_pages)
        self._user_cache_seconds = user_cache_seconds
        self._sleep = sleep
        self._monotonic = monotonic
        self._signature_clock = signature_clock
        self._seen = seen
        # No I/O here: an AsyncWebClient opens a connection only when a call is made.
        self._client = self._web_client(bot_token)
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._app: AsyncApp | None = None
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._on_command: CommandHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._admins: dict[str, tuple[bool, float]] = {}
        self._dms: dict[str, str] = {}  # user id -> the bot's DM channel with them
        self._auth_failure: str | None = None
        self._history_warned = False
        self.address: tuple[str, int] | None = None
        self._rendered: dict[int, tuple[Digest, SlackMessage]] = {}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        health: Health,
        routes: Sequence[web.RouteDef] = (),
        seen: SeenRequests | None = None,
    ) -> SlackChat:
        """A SlackChat configured from paperbot's settings (SLACK_* and PAPERBOT_*)."""
        from config.settings import SettingsError

        if not settings.slack_bot_token:
            raise SettingsError("SLACK_BOT_TOKEN: required to run in Slack")
        if not settings.slack_app_token and not settings.slack_signing_secret:
            raise SettingsError(
                "SLACK_SIGNING_SECRET: required for Slack over HTTP "
                "(or set SLACK_APP_TOKEN to use Socket Mode)"
            )
        return cls(
            bot_token=settings.slack_bot_token,
            app_token=settings.slack_app_token,
            signing_secret=settings.slack_signing_secret,
            api_url=settings.slack_api_url,
            port=settings.port,
            admins_only=settings.admins_only or settings.votes_admins_only,
            admin_users=settings.admin_users,
            health=health,
            routes=routes,
            timeout=settings.http_timeout,
            seen=seen,
        )

    @property
    def mode(self) -> str:
        """`socket` (Socket Mode) or `http`."""
        return "socket" if self._app_token else "http"

    # --- connecting --------------------------------------------------------------------------

    async def start(self, on_command: CommandHandler) -> None:
        """Check the token, then listen: Socket Mode connected or the HTTP server bound.

        Raises ChatAuthError if Slack rejects a token, TransientChatError if Slack is unreachable,
        ChatError if the HTTP port cannot be bound.
        """
        if self._app is not None:
            raise RuntimeError("SlackChat is already started")
        self._on_command = on_command
        try:
            identity = await self._call(self._client.auth_test, "auth.test")
            self._app = self._bolt_app()
            if self._app_token:
                await self._connect_socket(self._app, self._app_token)
            else:
                await self._serve_http(self._app)
        except BaseException:
            await self.stop()
            raise
        where = "Socket Mode" if self._app_token else f"HTTP on {self.address} {EVENTS_PATH}"
        log.info(
            "Slack: connected as %s to %s (%s) via %s",
            identity.get("user"),
            identity.get("team"),
            identity.get("team_id"),
            where,
        )

    def _web_client(self, token: str | None) -> AsyncWebClient:
        return AsyncWebClient(
            token=token,
            base_url=self._api_url,
            timeout=self._timeout,
            retry_handlers=retry_handlers(self._sleep),
            logger=cast(logging.Logger, _InheritedLevel(_logger("web"))),
        )

    def _bolt_app(self) -> AsyncApp:
        app = AsyncApp(
            name="paperbot",
            token=self._bot_token,
            logger=_logger("bolt"),
            # The HTTP front end (slack_server) verifies every request before Bolt sees it;
            # Socket Mode requests arrive over our own authenticated WebSocket.
            signing_secret="",
            request_verification_enabled=False,
        )
        # Bolt builds its client itself (passing ours would log a warning whenever
        # SLACK_BOT_TOKEN is also in the environment); point it at the same API and retries.
        app.client.base_url = self._api_url
        app.client.timeout = self._timeout
        app.client.retry_handlers = retry_handlers(self._sleep)
        app.command(SLASH_COMMAND)(self._on_slash)
        app.action(ACTION_IDS)(self._on_action)
        return app

    async def _serve_http(self, app: AsyncApp) -> None:
        web_app = build_web_app(
            app,
            self._signing_secret,
            self._health,
            self._signature_clock,
            self._routes,
            self._seen,
        )
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ChatError(f"cannot serve Slack on {self._host}:{self._port}: {exc}") from exc
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.address = (host, port)

    async def _connect_socket(self, app: AsyncApp, app_token: str) -> None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        # Ask for the WebSocket URL ourselves: a bad app token then fails start() with a clear
        # error, where the Socket Mode client would retry forever. The client uses this URL.
        try:
            opened = await app.client.apps_connections_open(app_token=app_token)
        except _SLACK_FAILURES as exc:
            error = to_chat_error(exc, "apps.connections.open")
            code = error_code(exc) if isinstance(exc, SlackApiError) else ""
            if isinstance(error, ChatAuthError) or code == "not_allowed_token_type":
                log.error(
                    "Slack rejected the app-level token (%s): Socket Mode cannot connect; set "
                    "SLACK_APP_TOKEN to an xapp- token with connections:write and restart",
                    code,
                )
                raise ChatAuthError(f"SLACK_APP_TOKEN rejected by Slack: {code}") from exc
            raise error from exc
        handler = AsyncSocketModeHandler(app, app_token=app_token, logger=_logger("socket"))
        handler.client.wss_uri = opened["url"]
        self._socket = handler
        try:
            await asyncio.wait_for(handler.connect_async(), timeout=self._timeout)
        except TimeoutError as exc:
            raise TransientChatError("Socket Mode: could not open the WebSocket to Slack") from exc

    async def stop(self) -> None:
        """Finish answering commands in flight (briefly), then disconnect."""
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._app = None
        session, self._client.session = self._client.session, None
        if session is not None and self._session_loop is asyncio.get_running_loop():
            await session.close()

    # --- commands --------------------------------------------------------------------------------

    async def _on_slash(
        self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        # Acknowledge first, whatever the work: Slack gives up after 3 seconds.
        await ack()
        self._spawn(self._answer(partial(self.to_command, command), respond, in_channel=True))

    async def _on_action(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        # A button press: acknowledged at once like a slash command (the button stops spinning),
        # then answered to the presser alone, as a new ephemeral message under the digest.
        await ack()
        self._spawn(
            self._answer(partial(self.action_command, body, action), respond, in_channel=False)
        )

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(
        self, make: Callable[[], Awaitable[Command]], respond: AsyncRespond, *, in_channel: bool
    ) -> None:
        """Run the Command `make` builds and answer at the response_url; `in_channel=False`
        keeps even a channel reply to the caller (buttons)."""
        assert self._on_command is not None
        try:
            command = await make()
        except InvalidChannelId as exc:
            log.warning("slash command or button from an unusable channel: %s", exc)
            command, reply = None, Reply("This channel cannot be used with paperbot.", error=True)
        except _OtherDirectMessage:
            command, reply = None, Reply(OTHER_DM_REPLY, error=True)
        else:
            try:
                reply = await self._on_command(command)
            except Exception:
                log.exception(
                    "command %r in %s by %s failed", command.text, command.channel, command.user
                )
                reply = Reply(
                    "Sorry, something went wrong on our side. Please try again.", error=True
                )
        if command is not None and reply.attachment is not None:
            reply = await self._upload(command, reply)
        message = render_reply(reply)
        public = in_channel and reply.visibility is Visibility.CHANNEL
        try:
            sent = await respond(
                text=message.text,
                blocks=list(message.blocks),
                response_type="in_channel" if public else "ephemeral",
                replace_original=None if in_channel else False,
                unfurl_links=False,
                unfurl_media=False,
            )
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("could not answer a command at its response_url: %s", exc)
            return
        if sent.status_code != 200:
            log.warning("response_url refused our reply: HTTP %s %s", sent.status_code, sent.body)

    async def _upload(self, command: Command, reply: Reply) -> Reply:
        """Upload the reply's file to the command's channel (files_upload_v2); the reply then
        says so, or why it could not be done."""
        file = reply.attachment
        assert file is not None
        channel = command.channel
        what = f"files upload of {file.filename} to {channel} for {command.user}"
        if self._auth_failure is None:
            self._keep_session()
            try:
                await self._client.files_upload_v2(
                    channel=channel.channel,
                    content=file.content,
                    filename=file.filename,
                    title=file.filename,
                )
            except (*_SLACK_FAILURES, SlackRequestError) as exc:
                code = error_code(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
                log.warning("Slack: %s failed: %s", what, code)
                if code in AUTH_FAILED:
                    self._auth_failure = code
                why = UPLOAD_HINTS.get(code, "please try again later")
            else:
                log.info("Slack: %s (%d bytes)", what, len(file.content))
                return replace(reply, attachment=None)
        else:
            why = "Slack refused the bot's token"
        note = f"Could not upload `{file.filename}` here: {why}."
        return replace(reply, text=f"{reply.text}\n{note}", error=True, attachment=None)

    async def to_command(self, payload: dict[str, Any]) -> Command:
        """The Command a slash-command payload means (`can_manage` looked up when it matters).

        In the person's own DM with the bot (App Home -> Messages, `slack:<team>:D...`) the
        person manages it: PAPERBOT_ADMINS_ONLY does not apply there. A DM between people
        raises _OtherDirectMessage: the bot cannot post there.
        """
        channel_id = str(payload.get("channel_id", ""))
        ref = ChannelRef.parse(f"slack:{payload.get('team_id', '')}:{channel_id}")
        user = str(payload.get("user_id", ""))
        text = clean(unescape(str(payload.get("text", "")))).strip()
        own_dm = False
        if payload.get("channel_name") == DM_CHANNEL_NAME:
            dm = await self._dm_with(user)
            if dm is not None and dm != channel_id:
                raise _OtherDirectMessage(channel_id)
            own_dm = True
        return Command(
            channel=ref,
            user=user,
            text=text,
            can_manage=own_dm or await self._can_manage(user, text),
        )

    async def _dm_with(self, user: str) -> str | None:
        """The bot's DM channel with `user` (conversations.open, im:write), or None if Slack
        cannot say (then the payload's own word that it is a DM is taken)."""
        if user in self._dms:
            return self._dms[user]
        try:
            opened = await self._call(
                partial(self._client.conversations_open, users=user), f"conversations.open {user}"
            )
        except ChatError as exc:
            log.warning("cannot open the DM with %s (%s; is im:write granted?)", user, exc)
            return None
        dm = str((opened.get("channel") or {}).get("id") or "") or None
        if dm is not None:
            self._dms[user] = dm
        return dm

    async def action_command(self, body: dict[str, Any], action: dict[str, Any]) -> Command:
        """The Command a button press means: `like <paper id>` and so on, by the presser, in the
        message's channel, with the message's `ts` (`can_manage` as for the typed command)."""
        user = body.get("user") or {}
        container = body.get("container") or {}
        team = (body.get("team") or {}).get("id") or user.get("team_id", "")
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        ref = ChannelRef.parse(f"slack:{team}:{channel}")
        _, verb = PAPER_ACTIONS[str(action.get("action_id"))]
        text = f"{verb} {str(action.get('value') or '').strip()}".strip()
        who = str(user.get("id", ""))
        ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
        # The bot posts digests in a DM only in its own DM with that person, who manages it.
        own_dm = channel.startswith("D")
        return Command(
            channel=ref,
            user=who,
            text=text,
            can_manage=own_dm or await self._can_manage(who, text),
            message=str(ts) if ts else None,
        )

    async def _can_manage(self, user: str, text: str) -> bool:
        if not self._admins_only or not needs_manage(text):
            return True
        if user in self._admin_users:
            return True
        return await self._is_workspace_admin(user)

    async def _is_workspace_admin(self, user: str) -> bool:
        now = self._monotonic()
        cached = self._admins.get(user)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            found = await self._call(
                partial(self._client.users_info, user=user), f"users.info {user}"
            )
        except ChatError as exc:
            log.warning(
                "cannot tell whether %s is a workspace admin (%s): treating as not", user, exc
            )
            return False
        info = found.get("user") or {}
        admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        self._admins[user] = (admin, now + self._user_cache_seconds)
        return admin

    # --- digests ---------------------------------------------------------------------------------

    def paginate(self, digest: Digest) -> list[Digest]:
        """`digest` in pages that each fit one Slack message (50 blocks, 3,000 a section...).

        The rendering of each page that came out as it was tried is kept for post() to reuse.
        """
        tried: dict[int, tuple[Digest, SlackMessage]] = {}

        def page_fits(page: Digest) -> bool:
            message = render_digest(page)
            tried[id(page)] = (page, message)
            return fits(message)

        pages = paginate(digest, page_fits)
        for page in pages:
            kept = tried.get(id(page))
            if kept is not None and kept[0] is page:
                self._rendered[id(page)] = kept
        while len(self._rendered) > RENDER_CACHE:
            del self._rendered[next(iter(self._rendered))]
        return pages

    def _render(self, page: Digest) -> SlackMessage:
        kept = self._rendered.pop(id(page), None)
        return kept[1] if kept is not None and kept[0] is page else render_digest(page)

    async def post(
        self,
        channel: ChannelRef,
        page: Digest,
        delivery_id: str,
        *,
        threads: bool = False,
        plain: bool = False,
    ) -> str:
        """Post one page with `delivery_id` in its metadata; return its `ts`.

        With `threads`, each paper's full abstract follows as a reply in the message's thread.
        With `plain`, the page goes as text alone (no blocks).
        """
        message = plain_digest(page) if plain else self._render(page)
        posted = await self._call(
            partial(
                self._client.chat_postMessage,
                channel=channel.channel,
                text=message.text,
                blocks=list(message.blocks) or None,
                metadata={"event_type": EVENT_TYPE, "event_payload": {"delivery_id": delivery_id}},
                unfurl_links=False,
                unfurl_media=False,
            ),
            f"chat.postMessage to {channel} (delivery {delivery_id})",
            channel,
        )
        ts = str(posted["ts"])
        if threads:
            await self._post_abstracts(channel, page, ts, delivery_id)
        return ts

    async def _post_abstracts(
        self, channel: ChannelRef, page: Digest, ts: str, delivery_id: str
    ) -> None:
        # The digest itself is posted: a failed thread reply is logged, never raised, or the
        # pipeline would think the delivery failed and post the digest again.
        for match in page.items:
            reply = thread_reply(match)
            try:
                await self._call(
                    partial(
                        self._client.chat_postMessage,
                        channel=channel.channel,
                        thread_ts=ts,
                        text=reply.text,
                        blocks=list(reply.blocks),
                        unfurl_links=False,
                        unfurl_media=False,
                    ),
                    f"thread reply for {match.paper.id} in {channel} (delivery {delivery_id})",
                    channel,
                )
            except ChatError as exc:
                log.warning(
                    "abstract thread of delivery %s in %s cut short: %s", delivery_id, channel, exc
                )
                if not isinstance(exc, TransientChatError):
                    return

    async def find_delivery(self, channel: ChannelRef, delivery_id: str) -> str | None:
        """The `ts` of a recent message in `channel` carrying `delivery_id`, or None.

        None too when the app may not read the channel's history (no channels:history scope).
        """
        cursor: str | None = None
        for _ in range(self._history_pages):
            found = await self._call(
                partial(
                    self._client.conversations_history,
                    channel=channel.channel,
                    limit=200,
                    include_all_metadata=True,
                    cursor=cursor,
                ),
                f"conversations.history of {channel}",
                channel,
                tolerate=NO_HISTORY,
            )
            if found is None:
                self._warn_no_history(channel)
                return None
            for message in found.get("messages") or []:
                meta = message.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                if (
                    meta.get("event_type") == EVENT_TYPE
                    and payload.get("delivery_id") == delivery_id
                ):
                    return str(message["ts"])
            cursor = (found.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor or not found.get("has_more"):
                break
        return None

    def _warn_no_history(self, channel: ChannelRef) -> None:
        if not self._history_warned:
            self._history_warned = True
            log.warning(
                "Slack: cannot read the history of %s, so posts a crash left unknown cannot be "
                "reconciled there; add the channels:history and groups:history scopes and reinstall",
                channel,
            )

    # --- calling Slack ---------------------------------------------------------------------------

    def _keep_session(self) -> None:
        """One aiohttp session for every Web API call, so connections are kept alive (without
        one, slack_sdk opens a session, a connection and a TLS handshake per call). Made in the
        running loop on first use; stop() closes it."""
        loop = asyncio.get_running_loop()
        session = self._client.session
        if session is None or session.closed or self._session_loop is not loop:
            self._client.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
            self._session_loop = loop

    async def _call(
        self,
        call: Callable[[], Awaitable[Any]],
        what: str,
        channel: ChannelRef | None = None,
        tolerate: frozenset[str] = frozenset(),
    ) -> Any:
        """Make a Web API call, turning its failure into the ChatError it means.

        A Slack error code in `tolerate` returns None instead, for the caller to handle. Once
        the bot token is rejected, every call fails at once without reaching Slack.
        """
        if self._auth_failure is not None:
            raise ChatAuthError(f"{what}: Slack is stopped, the bot token was {self._auth_failure}")
        self._keep_session()
        try:
            return await call()
        except _SLACK_FAILURES as exc:
            code = error_code(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
            if code in tolerate:
                return None
            error = to_chat_error(exc, what)
            if isinstance(error, ChatAuthError):
                self._auth_failure = code
                log.error(
                    "Slack rejected the bot token (%s): Slack is stopped, the rest of paperbot "
                    "runs on; set a valid SLACK_BOT_TOKEN and restart",
                    code,
                )
            elif isinstance(error, ChannelUnavailable):
                log.warning(
                    "Slack: %s is unavailable (%s), no more posts there: %s", channel, code, what
                )
            else:
                log.warning("Slack call failed: %s", error)
            raise error from exc
