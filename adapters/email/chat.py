"""The email edge: each digest mailed as one message over SMTP (aiosmtplib).

A channel `email:<domain>:<local part>` mails `<local part>@<domain>` (a person or a list).
There are no commands by mail: email channels are managed by the operator from the terminal
(`paperbot command --channel email:lab.org:ml-reading "subscribe diffusion"`).

How SMTP answers map onto the ledger (bot/ports.py): a 4xx anywhere (421, 451, 452) or a
connection that fails before DATA is TransientChatError, retried with backoff; a 5xx refusal
of the recipient or of the message is MessageRejected (set aside, shown in `status`); a
connection lost or timed out during DATA is TransientChatError(uncertain=True): the server may
have taken the message, and no mailbox can be asked (find_delivery says None), so it is sent
once more. Credentials go only over TLS (smtps://, or STARTTLS, used whenever offered), except
to a server on loopback (a local relay).
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING

import aiosmtplib
from aiosmtplib.email import flatten_message

from adapters.email.render import render_email
from adapters.web.unsubscribe import UnsubscribeTokens
from bot.models import ChannelRef, Digest
from bot.ports import (
    ChatAuthError,
    ChatError,
    Clock,
    CommandHandler,
    MessageRejected,
    TransientChatError,
    utcnow,
)
from config.settings import SmtpServer, smtp_server

if TYPE_CHECKING:
    from config.settings import Settings

log = logging.getLogger(__name__)

ONE_CLICK = "List-Unsubscribe=One-Click"


def address(ref: ChannelRef) -> str:
    """The address an email channel mails: `email:lab.org:ml-reading` -> ml-reading@lab.org."""
    return f"{ref.channel}@{ref.workspace}"


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine (where a password may go without TLS)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class EmailChat:
    """paperbot by email: implements bot.ports.Chat over one SMTP server."""

    platform = "email"

    def __init__(
        self,
        server: SmtpServer,
        sender: str,
        public_url: str,
        tokens: UnsubscribeTokens,
        *,
        clock: Clock = utcnow,
        timeout: float = 20.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.server = server
        self.sender = sender
        self.public_url = public_url.rstrip("/")
        self.tokens = tokens
        self.clock = clock
        self.timeout = timeout
        self.tls_context = tls_context
        self._sender_address = parseaddr(sender)[1]
        self._domain = self._sender_address.rpartition("@")[2] or "paperbot.invalid"

    @classmethod
    def from_settings(cls, settings: Settings, tokens: UnsubscribeTokens) -> EmailChat:
        """An EmailChat from PAPERBOT_SMTP_URL, PAPERBOT_EMAIL_FROM and PAPERBOT_PUBLIC_URL."""
        from config.settings import SettingsError

        if not settings.smtp_url:
            raise SettingsError("PAPERBOT_SMTP_URL: required to send email")
        if not settings.email_from:
            raise SettingsError(
                "PAPERBOT_EMAIL_FROM: required with PAPERBOT_SMTP_URL (the digests' sender, "
                "e.g. 'paperbot <paperbot@lab.org>')"
            )
        if not settings.public_url:
            raise SettingsError(
                "PAPERBOT_PUBLIC_URL: required with PAPERBOT_SMTP_URL (where paperbot's HTTP "
                "server is reached, for the unsubscribe link every digest carries)"
            )
        return cls(
            smtp_server(settings.smtp_url),
            settings.email_from,
            settings.public_url,
            tokens,
            timeout=settings.http_timeout,
        )

    async def start(self, on_command: CommandHandler) -> None:
        """Nothing to connect: a connection is opened per message."""

    def paginate(self, digest: Digest) -> list[Digest]:
        """One email per digest, however long (a mail has no practical size limit here)."""
        return [digest] if not digest.empty else []

    def message(
        self, channel: ChannelRef, page: Digest, delivery_id: str, *, plain: bool = False
    ) -> EmailMessage:
        """The digest as a multipart/alternative message (text only with `plain`)."""
        to = address(channel)
        now = self.clock()
        unsubscribe = self.tokens.url(self.public_url, channel)
        content = render_email(page, now, address=to, unsubscribe_url=unsubscribe, plain=plain)
        msg = EmailMessage()
        msg["Subject"] = content.subject
        msg["From"] = self.sender
        msg["To"] = to
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = f"<{delivery_id}@{self._domain}>"
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        msg["List-Unsubscribe-Post"] = ONE_CLICK
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Paperbot-Delivery"] = delivery_id
        msg.set_content(content.text)
        if content.html:
            msg.add_alternative(content.html, subtype="html")
        return msg

    async def post(
        self,
        channel: ChannelRef,
        page: Digest,
        delivery_id: str,
        *,
        threads: bool = False,
        plain: bool = False,
    ) -> str:
        """Mail one digest; its Message-ID is the message id (a mail has no threads)."""
        msg = self.message(channel, page, delivery_id, plain=plain)
        await self._send(msg, address(channel))
        return str(msg["Message-ID"])

    async def _send(self, msg: EmailMessage, to: str) -> None:
        server = self.server
        smtp = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            use_tls=server.implicit_tls,
            start_tls=None,  # STARTTLS whenever the server offers it
            timeout=self.timeout,
            tls_context=self.tls_context,
        )
        in_data = False
        try:
            await smtp.connect()
            if server.username is not None:
                if smtp.get_transport_info("sslcontext") is None and not is_loopback(server.host):
                    raise ChatAuthError(
                        f"{server} offers no STARTTLS: paperbot will not send the password "
                        "unencrypted (use smtps://...:465, or a server with STARTTLS)"
                    )
                await smtp.login(server.username, server.password or "")
            await smtp.mail(self._sender_address)
            await smtp.rcpt(to)
            in_data = True
            await smtp.data(flatten_message(msg))
            in_data = False
        except ChatError:
            raise
        except aiosmtplib.SMTPAuthenticationError as exc:
            if 400 <= exc.code < 500:
                raise TransientChatError(f"{server}: {exc.code} {exc.message}") from None
            raise ChatAuthError(f"{server} refused the login: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPRecipientRefused as exc:
            if exc.code >= 500:
                raise MessageRejected(f"{to} refused: {exc.code} {exc.message}") from None
            raise TransientChatError(f"{to} deferred: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPSenderRefused as exc:
            if exc.code >= 500:  # every message would be refused: a setting to fix
                raise ChatAuthError(
                    f"{server} refused the sender {self._sender_address}: {exc.code} {exc.message}"
                ) from None
            raise TransientChatError(f"sender deferred: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPDataError as exc:
            if exc.code >= 500:
                raise MessageRejected(f"message refused: {exc.code} {exc.message}") from None
            raise TransientChatError(f"message deferred: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise TransientChatError(f"{server}: {exc.code} {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            if in_data:  # the message went out; whether it was taken is unknown
                raise TransientChatError(
                    f"{server}: connection lost during DATA ({type(exc).__name__}): it may "
                    "have been delivered",
                    uncertain=True,
                ) from None
            raise TransientChatError(f"{server}: {type(exc).__name__}: {exc}") from None
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    smtp.close()

    async def find_delivery(self, channel: ChannelRef, delivery_id: str) -> str | None:
        """No mailbox can be asked what arrived: None (a lost DATA answer is sent again)."""
        return None

    async def stop(self) -> None:
        """Nothing held open between messages."""
