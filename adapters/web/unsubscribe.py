"""One-click unsubscribe (RFC 8058): signed links that pause an email channel.

`POST /unsubscribe/<token>` (what a mailbox provider's "Unsubscribe" button sends, body
`List-Unsubscribe=One-Click`) pauses the channel the token names; `GET` only shows a page with
a button, so a link scanner that follows every URL in a mail unsubscribes no one. The token is
the channel id and an HMAC-SHA256 of it under the unsubscribe secret: a tampered or made-up
token gets 404 and changes nothing. The pause goes through the command handler (`pause`), as
if the channel's operator had typed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from html import escape

from aiohttp import web

from bot.models import ChannelRef, Command, InvalidChannelId
from bot.ports import CommandHandler

log = logging.getLogger(__name__)

UNSUBSCRIBE_PATH = "/unsubscribe/{token}"
_PURPOSE = b"paperbot-unsubscribe:"  # the same secret could sign other things one day


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UnsubscribeTokens:
    """Signs and checks unsubscribe tokens naming a channel."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode("utf-8")

    def _mac(self, channel_id: str) -> bytes:
        return hmac.new(self._key, _PURPOSE + channel_id.encode(), hashlib.sha256).digest()

    def sign(self, ref: ChannelRef) -> str:
        """A URL-safe token naming `ref`."""
        channel_id = str(ref)
        return f"{_b64(channel_id.encode())}.{_b64(self._mac(channel_id))}"

    def verify(self, token: str) -> ChannelRef | None:
        """The email channel a genuine token names, else None."""
        encoded, _, mac = token.partition(".")
        try:
            channel_id = _unb64(encoded).decode("utf-8")
            given = _unb64(mac)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        if not hmac.compare_digest(given, self._mac(channel_id)):
            return None
        try:
            ref = ChannelRef.parse(channel_id)
        except InvalidChannelId:
            return None
        return ref if ref.platform == "email" else None

    def url(self, public_url: str, ref: ChannelRef) -> str:
        """The one-click link for `ref` under paperbot's public address."""
        return f"{public_url.rstrip('/')}/unsubscribe/{self.sign(ref)}"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}
button{{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:6px;background:#b31b1b;color:#fff;cursor:pointer}}</style>
</head><body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_PAGE.format(title=escape(title), body=body),
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )


def _address(ref: ChannelRef) -> str:
    return f"{ref.channel}@{ref.workspace}"


class Unsubscribe:
    """The unsubscribe routes. `on_command` is the command handler, set once it is built (it
    comes after the chats, which these routes are served beside)."""

    def __init__(self, tokens: UnsubscribeTokens, on_command: CommandHandler | None = None):
        self.tokens = tokens
        self.on_command = on_command

    def routes(self) -> list[web.RouteDef]:
        """GET shows the button, POST pauses."""
        return [web.get(UNSUBSCRIBE_PATH, self._show), web.post(UNSUBSCRIBE_PATH, self._pause)]

    async def _show(self, request: web.Request) -> web.Response:
        ref = self.tokens.verify(request.match_info["token"])
        if ref is None:
            return _not_found()
        return _page(
            "Unsubscribe from paperbot?",
            f"<p>Stop the paper digests mailed to <b>{escape(_address(ref))}</b>.</p>"
            '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
            "<button>Unsubscribe</button></form>",
        )

    async def _pause(self, request: web.Request) -> web.Response:
        ref = self.tokens.verify(request.match_info["token"])
        if ref is None:
            log.warning("unsubscribe with a bad token from %s", request.remote)
            return _not_found()
        if self.on_command is None:
            return _page("Try again shortly", "<p>paperbot is starting.</p>", status=503)
        reply = await self.on_command(Command(ref, "unsubscribe-link", "pause"))
        if reply.error:
            log.error("unsubscribe of %s failed: %s", ref, reply.text)
            return _page("Something went wrong", "<p>Please try again later.</p>", status=500)
        log.info("%s unsubscribed through its one-click link", ref)
        return _page(
            "You are unsubscribed",
            f"<p>No more digests will be mailed to <b>{escape(_address(ref))}</b>.</p>",
        )


def _not_found() -> web.Response:
    return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", status=404)
