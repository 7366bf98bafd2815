"""Discord as a chat platform, on discord.py: `/papers` interactions in, embed digests out.

The adapter only translates. An interaction (a `/papers` command, or a press of a digest's
buttons: buttons.py) becomes a bot.models.Command for the shared handler; a Reply or a Digest
page becomes Discord messages (render.py), a Reply's file attached to its answer.

Process-global: discord.py builds every REST URL from the class attribute `discord.http.Route.BASE`
(and its gateway URL from `DiscordWebSocket.DEFAULT_GATEWAY`); the adapter sets the first to
`api_url` when it starts, and, when `api_url` is not Discord's own, asks that API for its gateway
(`GET /gateway/bot`, as Discord documents) and sets the second. One Discord API per process.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.buttons import ButtonRunner, PaperButton, RowLabel, digest_view
from adapters.discord.commands import CommandRunner, build_tree
from adapters.discord.render import (
    DiscordMessage,
    abstract_message,
    digest_message,
    fits,
    plain_message,
    reply_messages,
    thread_name,
)
from bot.commands.base import needs_manage
from bot.delivery.digest import paginate
from bot.inbound import clean
from bot.models import ChannelRef, Command, Digest, Reply, Visibility
from bot.ports import (
    ChannelUnavailable,
    ChatAuthError,
    ChatError,
    CommandHandler,
    MessageRejected,
    TransientChatError,
)

if TYPE_CHECKING:
    from config.settings import Settings

_log = logging.getLogger(__name__)

DISCORD_API_URL = "https://discord.com/api/v10"
# Waits for a rate limit longer than this surface as TransientChatError(retry_after) so the
# delivery layer can retry later; 30 s is the smallest discord.py accepts.
MAX_RATELIMIT_WAIT = 30.0
NONCE_LENGTH = 25  # Discord's maximum for a string nonce
NO_MENTIONS = discord.AllowedMentions.none()
# What the bot needs in a channel: see it, post in it, and have its embeds shown (19456).
BOT_PERMISSIONS = discord.Permissions(view_channel=True, send_messages=True, embed_links=True)
FAILED_REPLY = "Sorry, something went wrong while running that command. Please try again later."
NOT_IN_CHANNEL_REPLY = "Use `/papers` in a server text channel, or in a direct message with me."
DM_WORKSPACE = "dm"  # a direct message with the bot: discord:dm:<DM channel id>
POSTED_BELOW = "Done: see below."
COMPONENT = discord.InteractionType.component


def delivery_nonce(delivery_id: str) -> str:
    """The message nonce for a delivery: the same ≤ 25-character string every time it is tried."""
    return hashlib.sha256(delivery_id.encode()).hexdigest()[:NONCE_LENGTH]


def invite_url(application_id: int | str) -> str:
    """The link that adds the bot to a server with `/papers` and the permissions it needs."""
    return discord.utils.oauth_url(
        application_id, permissions=BOT_PERMISSIONS, scopes=("bot", "applications.commands")
    )


def channel_ref(guild_id: int | None, channel_id: int) -> ChannelRef:
    """`discord:<guild_id>:<channel_id>`, or `discord:dm:<DM channel id>` for a direct message."""
    return ChannelRef(
        "discord", DM_WORKSPACE if guild_id is None else str(guild_id), str(channel_id)
    )


def _in_dm(interaction: discord.Interaction) -> bool:
    return interaction.guild_id is None and (
        interaction.context.dm_channel or isinstance(interaction.channel, discord.DMChannel)
    )


class _PaperbotClient(discord.Client):
    """A gateway client whose set-up (gateway discovery, command sync) runs in setup_hook."""

    def __init__(
        self,
        run: CommandRunner,
        *,
        run_button: ButtonRunner,
        api_url: str,
        guild_id: int | None,
        on_ready: Callable[[], None],
        guild_ready_timeout: float,
    ) -> None:
        super().__init__(
            intents=discord.Intents(guilds=True),  # slash commands need no other intent
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT,
            guild_ready_timeout=guild_ready_timeout,
            allowed_mentions=NO_MENTIONS,
        )
        self.tree = build_tree(self, run)
        self.run_button = run_button  # what a digest button's press runs (buttons.PaperButton)
        self._api_url = api_url
        self._guild_id = guild_id
        self._ready_callback = on_ready

    async def setup_hook(self) -> None:
        """Listen for digest buttons on any message, find the gateway of a non-default API, then
        register `/papers` with Discord."""
        self.add_dynamic_items(PaperButton, RowLabel)
        if self._api_url != DISCORD_API_URL:
            _, url, _ = await self.http.get_bot_gateway()
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        await sync_commands(self.tree, self._guild_id)

    async def on_ready(self) -> None:
        """Gateway session ready: commands can arrive."""
        self._ready_callback()


async def sync_commands(tree: app_commands.CommandTree, guild_id: int | None) -> None:
    """Register the tree with Discord: in one guild (instant) when given, else globally."""
    where = f"guild {guild_id}" if guild_id else "all servers (global)"
    try:
        if guild_id:
            guild = discord.Object(id=guild_id)
            tree.copy_global_to(guild=guild)
            synced = await tree.sync(guild=guild)
        else:
            synced = await tree.sync()
    except discord.Forbidden as exc:
        _log.error(
            "discord: cannot register /papers in %s (%s); invite the bot with the "
            "applications.commands scope",
            where,
            exc.text or exc.status,
        )
        return
    except discord.HTTPException as exc:
        _log.error(
            "discord: registering /papers in %s failed: HTTP %s %s", where, exc.status, exc.text
        )
        return
    _log.info("discord: /papers registered in %s (%d command)", where, len(synced))


class DiscordChat:
    """The Discord platform (bot.ports.Chat): a gateway client for `/papers`, REST for digests."""

    platform = "discord"

    def __init__(
        self,
        token: str,
        api_url: str = DISCORD_API_URL,
        guild_id: int | None = None,
        admins_only: bool = False,
        *,
        defer_after: float = 1.0,
        ready_timeout: float = 60.0,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        self._token = token
        self._api_url = api_url.rstrip("/")
        self._guild_id = guild_id
        self._admins_only = admins_only
        self._defer_after = defer_after
        self._ready_timeout = ready_timeout
        self._guild_ready_timeout = guild_ready_timeout
        self._on_command: CommandHandler | None = None
        self._client: _PaperbotClient | None = None
        self._gateway: asyncio.Task[None] | None = None
        self._http_ready = False
        self._login_lock = asyncio.Lock()
        self._ready = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: Settings) -> DiscordChat:
        """The adapter configured by DISCORD_BOT_TOKEN, DISCORD_GUILD_ID, PAPERBOT_DISCORD_API_URL
        and PAPERBOT_ADMINS_ONLY."""
        if not settings.discord_bot_token:
            raise ValueError("DISCORD_BOT_TOKEN: not set")
        return cls(
            settings.discord_bot_token,
            settings.discord_api_url,
            settings.discord_guild_id,
            settings.admins_only or settings.votes_admins_only,
        )

    @property
    def tree(self) -> app_commands.CommandTree:
        """The command tree (built on first use; nothing talks to Discord until start)."""
        return self._get_client().tree

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, on_command: CommandHandler) -> None:
        """Log in, register `/papers`, connect to the gateway in the background; return when ready.

        Raises ChatAuthError for a rejected token, TransientChatError if Discord cannot be reached
        or the session is not ready within `ready_timeout` seconds.
        """
        self._on_command = on_command
        Route.BASE = self._api_url
        client = self._get_client()
        if self._http_ready:  # an HTTP-only login came first: client.start logs in afresh
            await client.http.close()
            self._http_ready = False
        self._ready.clear()
        self._gateway = asyncio.create_task(client.start(self._token), name="discord-gateway")
        ready = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait(
            {self._gateway, ready}, timeout=self._ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready in done:
            self._http_ready = True
            self._gateway.add_done_callback(_log_gateway_end)
            user = client.user
            app_id = client.application_id or (user.id if user else "?")
            _log.info("discord: connected as %s; invite link: %s", user, invite_url(app_id))
            return
        ready.cancel()
        gateway, self._gateway, self._client = self._gateway, None, None
        error = gateway.exception() if gateway in done else None
        await client.close()  # a closed discord.Client cannot start again: the next start makes one
        if not gateway.done():
            gateway.cancel()
        if error is None:
            _log.error("discord: gateway session not ready after %.0f s", self._ready_timeout)
            raise TransientChatError(f"discord: not ready after {self._ready_timeout:.0f} s")
        _raise_translated(error, "logging in")

    async def start_http_only(self) -> None:
        """Log in over REST only (no gateway): enough to post digests from the CLI."""
        async with self._login_lock:
            if self._http_ready:
                return
            Route.BASE = self._api_url
            client = self._get_client()
            try:
                await client.http.static_login(self._token)
            except Exception as exc:
                await client.http.close()
                _raise_translated(exc, "logging in")
            self._http_ready = True

    async def stop(self) -> None:
        """Disconnect and close the HTTP session."""
        client, gateway = self._client, self._gateway
        self._client, self._gateway, self._http_ready = None, None, False
        if client is not None:
            await client.close()
        if gateway is not None:
            try:
                await gateway
            except Exception as exc:  # already reported by _log_gateway_end
                _log.debug("discord: gateway task ended with %r", exc)

    def _get_client(self) -> _PaperbotClient:
        if self._client is None:
            self._client = _PaperbotClient(
                self._run_command,
                run_button=self._run_button,
                api_url=self._api_url,
                guild_id=self._guild_id,
                on_ready=self._ready.set,
                guild_ready_timeout=self._guild_ready_timeout,
            )
        return self._client

    # --- digests --------------------------------------------------------------------------

    def paginate(self, digest: Digest) -> list[Digest]:
        """Pages of at most 10 embeds and 6,000 characters each."""
        return paginate(digest, fits)

    async def post(
        self,
        channel: ChannelRef,
        page: Digest,
        delivery_id: str,
        *,
        threads: bool = False,
        plain: bool = False,
    ) -> str:
        """Post one page with the delivery's nonce (enforce_nonce), so a retry never posts twice.

        With `threads`, a thread is opened on the digest message and each paper's full abstract
        is posted in it (best effort: a failure there is logged, never raised, or the digest
        would be posted again). With `plain`, the page goes as text alone (no embeds).
        """
        if channel.platform != self.platform:
            raise ValueError(f"not a Discord channel: {channel}")
        if not channel.channel.isdigit():
            _log.warning("discord: %s is not a Discord channel id; marking it unavailable", channel)
            raise ChannelUnavailable(f"{channel}: a Discord channel id is a number")
        await self.start_http_only()
        message = plain_message(page) if plain else digest_message(page)
        target = self._get_client().get_partial_messageable(int(channel.channel))
        view = digest_view(message.rows)
        try:
            sent = await target.send(
                content=message.content,
                embeds=list(message.embeds),
                nonce=delivery_nonce(delivery_id),
                allowed_mentions=NO_MENTIONS,
                **({"view": view} if view is not None else {}),
            )
        except (discord.Forbidden, discord.NotFound) as exc:
            _log.warning(
                "discord: cannot post to %s (HTTP %s, code %s: %s); channel unavailable",
                channel,
                exc.status,
                exc.code,
                exc.text,
            )
            raise ChannelUnavailable(f"{channel}: {exc.text or exc.status}") from exc
        except Exception as exc:
            _raise_translated(exc, f"posting to {channel}")
        _log.info(
            "discord: posted %s page %d/%d as message %s", channel, page.page, page.pages, sent.id
        )
        if threads and channel.workspace != DM_WORKSPACE:  # a DM has no threads
            await self._post_abstracts(channel, page, sent.id)
        return str(sent.id)

    async def _post_abstracts(self, channel: ChannelRef, page: Digest, message_id: int) -> None:
        client = self._get_client()
        try:
            thread = await client.http.start_thread_with_message(
                int(channel.channel), message_id, name=thread_name(page), auto_archive_duration=1440
            )
            target = client.get_partial_messageable(int(thread["id"]))
            for match in page.items:
                await target.send(content=abstract_message(match), allowed_mentions=NO_MENTIONS)
        except (
            discord.HTTPException,
            discord.RateLimited,  # a wait over MAX_RATELIMIT_WAIT: not an HTTPException
            aiohttp.ClientError,
            TimeoutError,
        ) as exc:
            _log.warning("discord: abstracts for %s not posted in a thread: %s", channel, exc)

    async def find_delivery(self, channel: ChannelRef, delivery_id: str) -> str | None:
        """Always None: fetched Discord messages do not carry their nonce, so history cannot tell.

        Reposting is safe instead: `post` sends the same nonce with enforce_nonce, and Discord
        answers a repeated nonce within its window (a few minutes) with the message it already
        created rather than posting again.
        """
        return None

    # --- commands -------------------------------------------------------------------------

    def can_manage(self, interaction: discord.Interaction, text: str) -> bool:
        """Whether the member may run `text`: anyone, unless admins_only and the command changes
        the channel, which then needs Manage Channels (resolved for this channel, at run time).
        In a person's own DM with the bot, that person manages it."""
        if not self._admins_only or not needs_manage(text) or _in_dm(interaction):
            return True
        perms = interaction.permissions
        return perms.manage_channels or perms.administrator

    def to_command(self, interaction: discord.Interaction, text: str) -> Command | None:
        """The shared Command for an interaction, or None outside a server channel or a DM with
        the bot (a group DM). A button's press carries the id of the message it was pressed on."""
        if interaction.channel_id is None or (
            interaction.guild_id is None and not _in_dm(interaction)
        ):
            return None
        text = clean(text)  # the payload's JSON may hold lone surrogates or control characters
        pressed_on = interaction.message if interaction.type is COMPONENT else None
        return Command(
            channel=channel_ref(interaction.guild_id, interaction.channel_id),
            user=str(interaction.user.id),
            text=text,
            can_manage=self.can_manage(interaction, text),
            message=str(pressed_on.id) if pressed_on is not None else None,
        )

    async def _run_button(self, interaction: discord.Interaction, text: str) -> None:
        """A digest button's press: the command it names, answered to the presser alone."""
        await self._run_command(interaction, text, caller_only=True)

    async def _run_command(
        self, interaction: discord.Interaction, text: str, *, caller_only: bool = False
    ) -> None:
        command = self.to_command(interaction, text)
        if command is None or self._on_command is None:
            await self._answer(interaction, Reply(NOT_IN_CHANNEL_REPLY, error=True), False)
            return
        work = asyncio.create_task(self._handle(command, caller_only))
        deferred = False
        # Discord wants an answer within 3 s: slow work shows "thinking…" to the caller first.
        # Only to the caller: a digest itself reaches the channel through post(), not this reply.
        done, _ = await asyncio.wait({work}, timeout=self._defer_after)
        if not done:
            try:
                await interaction.response.defer(ephemeral=True, thinking=True)
                deferred = True
            except discord.HTTPException as exc:
                _log.warning("discord: could not defer %r in %s: %s", text, command.channel, exc)
        await self._answer(interaction, await work, deferred)

    async def _handle(self, command: Command, caller_only: bool = False) -> Reply:
        assert self._on_command is not None
        try:
            reply = await self._on_command(command)
            return replace(reply, visibility=Visibility.CALLER) if caller_only else reply
        except Exception:
            _log.exception(
                "discord: command %r by %s in %s failed",
                command.text,
                command.user,
                command.channel,
            )
            return Reply(FAILED_REPLY, error=True)

    async def _answer(self, interaction: discord.Interaction, reply: Reply, deferred: bool) -> None:
        """Send the reply as its visibility says (ephemeral for the caller); after a deferral the
        first message replaces "thinking…" and the rest are follow-ups."""
        ephemeral = reply.visibility is Visibility.CALLER
        messages = reply_messages(reply)
        try:
            if not deferred:
                first, *rest = messages
                await interaction.response.send_message(
                    **_message_kwargs(first), ephemeral=ephemeral, allowed_mentions=NO_MENTIONS
                )
            elif ephemeral:
                rest = messages  # the first follow-up takes the place of "thinking…"
            else:
                # "thinking…" was ephemeral and would make the first follow-up so too: close it
                # first, then the reply is posted for everyone.
                await interaction.edit_original_response(content=POSTED_BELOW)
                rest = messages
            for message in rest:
                await interaction.followup.send(
                    **_message_kwargs(message), ephemeral=ephemeral, allowed_mentions=NO_MENTIONS
                )
        except discord.HTTPException as exc:
            _log.warning(
                "discord: could not answer interaction %s in channel %s: HTTP %s %s",
                interaction.id,
                interaction.channel_id,
                exc.status,
                exc.text,
            )


def _message_kwargs(message: DiscordMessage) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"embeds": list(message.embeds)}
    if message.content is not None:
        kwargs["content"] = message.content
    if message.attachment is not None:  # a discord.File is read once: made per send
        kwargs["file"] = discord.File(
            io.BytesIO(message.attachment.content), filename=message.attachment.filename
        )
    return kwargs


def _raise_translated(exc: BaseException, doing: str) -> NoReturn:
    """Re-raise a discord.py / aiohttp failure as the port's error, with one log line."""
    if isinstance(exc, discord.LoginFailure) or (
        isinstance(exc, discord.HTTPException) and exc.status == 401
    ):
        _log.error("discord: DISCORD_BOT_TOKEN was rejected (401 Unauthorized) while %s", doing)
        raise ChatAuthError(
            "discord: DISCORD_BOT_TOKEN was rejected; reset it in the portal"
        ) from exc
    if isinstance(exc, discord.RateLimited):
        _log.warning("discord: rate limited for %.1f s while %s", exc.retry_after, doing)
        raise TransientChatError(f"discord: rate limited while {doing}", exc.retry_after) from exc
    if isinstance(exc, discord.DiscordServerError | discord.GatewayNotFound):
        _log.warning("discord: server error while %s: %s", doing, exc)
        raise TransientChatError(f"discord: server error while {doing}: {exc}") from exc
    if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
        _log.warning("discord: cannot reach Discord while %s: %r", doing, exc)
        raise TransientChatError(f"discord: cannot reach Discord while {doing}: {exc!r}") from exc
    if isinstance(exc, discord.HTTPException) and exc.status == 400:
        _log.error("discord: refused (HTTP 400, code %s) while %s: %s", exc.code, doing, exc.text)
        raise MessageRejected(
            f"discord: HTTP 400 (code {exc.code}) while {doing}: {exc.text}"
        ) from exc
    if isinstance(exc, discord.HTTPException):
        _log.error("discord: HTTP %s while %s: %s", exc.status, doing, exc.text)
        raise ChatError(f"discord: HTTP {exc.status} while {doing}: {exc.text}") from exc
    raise exc


def _log_gateway_end(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        _log.error(
            "discord: gateway connection ended: %r; slash commands are offline",
            error,
            exc_info=error,
        )
