"""A real SMTP server on 127.0.0.1 (aiosmtpd, in its own thread) that keeps what it is sent
and fails on demand: 4xx/5xx answers to DATA, refused recipients, a connection dropped after
the message was taken (its answer lost)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as Server
from aiosmtpd.smtp import AuthResult, Envelope, Session

DROP = "drop"  # take the message, then close the connection before answering


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mailbox:
    """aiosmtpd's handler: the messages taken, the faults still to play."""

    messages: list[EmailMessage] = field(default_factory=list)
    data_faults: list[str] = field(default_factory=list)  # "451 ...", "554 ...", DROP
    refused: dict[str, str] = field(default_factory=dict)  # address -> RCPT answer
    on_data: Callable[[], None] | None = None  # called as a message arrives (SIGKILL tests)
    arrived: threading.Event = field(default_factory=threading.Event)
    attempts: int = 0

    async def handle_RCPT(
        self, server: Server, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Server, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        fault = self.data_faults.pop(0) if self.data_faults else None
        if fault and fault != DROP:
            return fault
        raw = envelope.original_content or envelope.content
        self.messages.append(
            message_from_bytes(raw, policy=policy.default)  # type: ignore[arg-type]
        )
        self.arrived.set()
        if self.on_data is not None:
            self.on_data()
        if fault == DROP:
            server.transport.close()  # type: ignore[union-attr]
        return "250 2.0.0 queued"

    def delivery_ids(self) -> list[str]:
        """The X-Paperbot-Delivery of every message taken, in arrival order."""
        return [str(m["X-Paperbot-Delivery"]) for m in self.messages]


def _authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = auth_data.login == b"paperbot" and auth_data.password == b"s3cret"
    return AuthResult(success=ok)


class SmtpStandin:
    """`with SmtpStandin() as smtp:` a server at smtp.url (smtp://paperbot:s3cret@127.0.0.1:N)."""

    def __init__(self, hostname: str = "127.0.0.1") -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller = Controller(
            self.mailbox,
            hostname=hostname,
            port=self.port,
            authenticator=_authenticate,
            auth_require_tls=False,  # loopback: paperbot sends the password without TLS here
        )

    @property
    def url(self) -> str:
        return f"smtp://paperbot:s3cret@127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpStandin:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
