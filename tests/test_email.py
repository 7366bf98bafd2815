"""Email digests through the real aiosmtplib client against a real aiosmtpd server on
127.0.0.1: arrival, SMTP failures against the ledger, escaping, one-click unsubscribe."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from adapters.email.chat import EmailChat, is_loopback
from adapters.web.health import web_routes
from adapters.web.unsubscribe import Unsubscribe, UnsubscribeTokens
from bot.commands.handler import CommandHandler
from bot.delivery.pipeline import Pipeline
from bot.models import ChannelRef, InvalidChannelId, Schedule
from bot.ports import ChatAuthError
from config.settings import SettingsError, load_settings, smtp_server
from entry.cli import cli
from tests.conftest import ListSource, paper
from tests.fakes import FakeClock
from tests.smtp_standin import DROP, SmtpStandin

CH = ChannelRef.parse("email:lab.org:ml-reading")
TRAP = "<script>alert('x')</script> Diffusion & <b>friends</b>"
PAPERS = [
    paper(
        i,
        f"Diffusion paper {i}",
        f"We study diffusion number {i}. Then more.",
        authors=("Ada Lovelace", "Alan Turing"),
        upvotes=i,
        pdf_url=f"https://arxiv.org/pdf/2611.{i:05d}",
        code_url="https://github.com/x/y",
    )
    for i in range(1, 6)
]
SECRET = "test-secret"
PUBLIC = "https://papers.lab.org"


async def _healthy() -> bool:
    return True


@pytest.fixture
def smtp() -> Iterator[SmtpStandin]:
    with SmtpStandin() as server:
        yield server


@pytest.fixture
def email(smtp: SmtpStandin, clock: FakeClock) -> EmailChat:
    return EmailChat(
        smtp_server(smtp.url),
        "paperbot <paperbot@lab.org>",
        PUBLIC,
        UnsubscribeTokens(SECRET),
        clock=clock,
        timeout=5,
    )


@pytest.fixture
async def mailer(stores, email, clock) -> AsyncIterator[tuple[Pipeline, CommandHandler]]:
    source = ListSource(PAPERS)
    pipe = Pipeline(stores, {"list": source}, {"email": email}, clock, retry_base=1, retry_max=5)
    handler = CommandHandler(pipe, Schedule())
    await pipe.poll("list", force=True)
    reply = await handler(_cmd("subscribe diffusion"))
    assert not reply.error, reply.text
    yield pipe, handler


def _cmd(text: str):  # type: ignore[no-untyped-def]
    from bot.models import Command

    return Command(CH, "cli", text)


async def test_a_digest_arrives_once_as_multipart_with_both_parts(mailer, smtp, clock):
    pipe, _ = mailer
    report = await pipe.run_digest(CH)
    assert report.posted == 1 and report.papers == 5
    assert (await pipe.run_digest(CH)).posted == 0  # a second run mails nothing
    [msg] = smtp.mailbox.messages
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["To"] == "ml-reading@lab.org"
    assert msg["Subject"] == "5 new papers on diffusion · Mon 30 Nov"
    assert msg["Message-ID"] == f"<{msg['X-Paperbot-Delivery']}@lab.org>"
    assert msg["Date"] == "Mon, 30 Nov 2026 08:00:00 +0000"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Unsubscribe"].startswith(f"<{PUBLIC}/unsubscribe/")
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "5. *Diffusion* paper 1" in text and "PDF: https://arxiv.org/pdf/2611.00001" in text
    assert '<strong style="background:#fff3b0;">Diffusion</strong> paper 5' in html
    assert 'href="https://arxiv.org/abs/5"' in html and "Ada Lovelace and Alan Turing" in html
    assert "We study <strong>diffusion</strong> number 5." in html
    assert ">Code</a>" in html and "&#9650; 5</span> upvotes" in html


async def test_a_weekly_digest_says_its_more_line_covers_the_week(email, smtp):
    from bot.models import Digest, Match

    page = Digest(CH, (Match(PAPERS[0], (), ()),), more=4, period="this week")
    await email.post(CH, page, "weekly1")
    [msg] = smtp.mailbox.messages
    assert "…and 4 more papers this week:" in msg.get_body(("plain",)).get_content()
    assert "more papers matched this week:" in msg.get_body(("html",)).get_content()


async def test_451_then_success_delivers_once(mailer, smtp, clock):
    pipe, _ = mailer
    smtp.mailbox.data_faults = ["451 4.3.0 try again later"]
    report = await pipe.run_digest(CH)
    assert report.posted == 0 and report.pending == 5 and "451" in (report.note or "")
    clock.advance(minutes=1)
    assert (await pipe.flush(CH)).posted == 1
    assert (await pipe.flush(CH)).posted == 0
    assert smtp.mailbox.attempts == 2 and len(smtp.mailbox.messages) == 1


async def test_550_recipient_sets_the_digest_aside(mailer, smtp, clock, stores):
    pipe, _ = mailer
    smtp.mailbox.refused["ml-reading@lab.org"] = "550 5.1.1 no such user"
    report = await pipe.run_digest(CH)
    assert report.posted == 0 and report.pending == 0
    assert "set aside" in (report.note or "") and "550 5.1.1 no such user" in report.note
    assert "550" in (await stores.deliveries.set_aside())[str(CH)]
    assert (await stores.deliveries.counts())[str(CH)] == {"rejected": 5}
    clock.advance(hours=1)
    assert (await pipe.flush(CH)).posted == 0
    assert smtp.mailbox.messages == []


async def test_connection_dropped_after_data_is_sent_again_once(mailer, smtp, clock):
    pipe, _ = mailer
    smtp.mailbox.data_faults = [DROP]  # the server takes the message; its answer is lost
    report = await pipe.run_digest(CH)
    assert report.posted == 0 and "may have been delivered" in (report.note or "")
    clock.advance(minutes=1)
    assert (await pipe.flush(CH)).posted == 1
    clock.advance(hours=1)
    assert (await pipe.flush(CH)).posted == 0
    first, second = smtp.mailbox.messages  # sent again once, with the same Message-ID
    assert first["Message-ID"] == second["Message-ID"]


async def test_html_escapes_a_trap_title(email, smtp):
    from bot.models import Digest, Hit, Match

    trap = replace(
        paper(9, TRAP, "An <img src=x onerror=alert(1)> abstract."), url="javascript:alert(1)"
    )
    match = Match(trap, (1,), (Hit("title", "diffusion", TRAP.index("Diffusion"), 38),))
    await email.post(CH, Digest(CH, (match,), title="New <papers>"), "d1")
    [msg] = smtp.mailbox.messages
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "<img" not in html and "<b>friends" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;b&gt;friends&lt;/b&gt;" in html and "New &lt;papers&gt;" in html
    assert "javascript:" not in html  # not a link
    assert TRAP in msg.get_body(("plain",)).get_content().replace("*", "")


async def _client(handler: CommandHandler) -> TestClient:
    unsubscribe = Unsubscribe(UnsubscribeTokens(SECRET), handler)
    app = web.Application()
    app.add_routes(web_routes(_healthy, unsubscribe.routes()))
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_one_click_post_pauses_and_a_tampered_token_does_not(mailer, stores, email):
    pipe, handler = mailer
    link = UnsubscribeTokens(SECRET).url("", CH)
    other = ChannelRef.parse("email:lab.org:other")
    encoded, _, mac = link.rpartition("/")[2].partition(".")
    forged = UnsubscribeTokens("a-guess").sign(other)
    tampered = [
        f"{encoded}.{mac[:-2]}AA",
        f"{forged}",
        f"{UnsubscribeTokens(SECRET).sign(other).partition('.')[0]}.{mac}",  # mac of another channel
        "nonsense",
    ]
    client = await _client(handler)
    try:
        for token in tampered:
            r = await client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click")
            assert r.status == 404
        assert not (await stores.channels.get(CH)).paused
        assert await stores.channels.get(other) is None
        r = await client.post(link, data="List-Unsubscribe=One-Click")
        assert r.status == 200 and "You are unsubscribed" in await r.text()
    finally:
        await client.close()
    assert (await stores.channels.get(CH)).paused
    report = await pipe.run_digest(CH)
    assert report.posted == 0 and "paused" in (report.note or "")


async def test_get_shows_a_button_and_changes_nothing(mailer, stores):
    _, handler = mailer
    client = await _client(handler)
    try:
        r = await client.get(UnsubscribeTokens(SECRET).url("", CH))
        body = await r.text()
        assert r.status == 200 and '<form method="post">' in body
        assert "ml-reading@lab.org" in body
        assert (await client.get("/unsubscribe/forged.token")).status == 404
    finally:
        await client.close()
    assert not (await stores.channels.get(CH)).paused


async def test_the_slack_http_front_end_serves_the_unsubscribe_route_too(mailer):
    from slack_bolt.async_app import AsyncApp

    from adapters.slack.server import build_web_app

    _, handler = mailer
    unsubscribe = Unsubscribe(UnsubscribeTokens(SECRET), handler)
    bolt = AsyncApp(token="xoxb-1", signing_secret="s")
    app = build_web_app(bolt, "s", _healthy, routes=unsubscribe.routes())
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get(UnsubscribeTokens(SECRET).url("", CH))).status == 200


def test_email_channel_ids_are_checked():
    assert ChannelRef.parse("email:Lab.org:me+papers") == ChannelRef(
        "email", "lab.org", "me+papers"
    )
    for bad in ("email:lab:ml", "email:lab.org:.ml", "email:lab..org:ml", "email:lab.org:a..b"):
        with pytest.raises(InvalidChannelId, match="is not an email address"):
            ChannelRef.parse(bad)


def test_a_bad_smtp_url_is_one_error_without_the_password():
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, smtp_url="smtp://me:hunter2@")
    assert str(caught.value).startswith("PAPERBOT_SMTP_URL: expected smtp://")
    assert "hunter2" not in str(caught.value)
    server = smtp_server("smtps://apikey:p%40ss@smtp.example.org")
    assert (server.port, server.password, str(server)) == (
        465,
        "p@ss",
        "smtps://apikey@smtp.example.org:465",
    )
    assert "p@ss" not in repr(server)


def _own_address() -> str | None:
    """This machine's address on a network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))  # UDP: picks a route, sends nothing
        except OSError:
            return None
        host = str(probe.getsockname()[0])
    return None if host.startswith("127.") or host == "0.0.0.0" else host


async def test_no_password_goes_to_a_remote_server_without_starttls(clock):
    host = _own_address()
    if host is None:
        pytest.skip("this machine has no non-loopback address to reach itself on")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback(host)
    with SmtpStandin(hostname="0.0.0.0") as smtp:
        server = smtp_server(smtp.url.replace("127.0.0.1", host))
        chat = EmailChat(server, "paperbot@lab.org", PUBLIC, UnsubscribeTokens("k"), clock=clock)
        from bot.models import Digest, Match

        page = Digest(CH, (Match(PAPERS[0], (), ()),))
        with pytest.raises(ChatAuthError, match="offers no STARTTLS") as caught:
            await chat.post(CH, page, "d1")
        assert "s3cret" not in str(caught.value)
        assert smtp.mailbox.attempts == 0


def test_two_paperbot_digest_runs_mail_once(monkeypatch, tmp_path, smtp):
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "PAPERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "PAPERBOT_SOURCES": "sample",
        "PAPERBOT_SMTP_URL": smtp.url,
        "PAPERBOT_EMAIL_FROM": "paperbot@lab.org",
        "PAPERBOT_PUBLIC_URL": PUBLIC,
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    channel = "email:lab.org:ml-reading"
    r = runner.invoke(cli, ["command", "--channel", channel, "subscribe diffusion"])
    assert r.exit_code == 0 and "Subscribed to diffusion" in r.output
    assert runner.invoke(cli, ["poll"]).exit_code == 0
    r = runner.invoke(cli, ["digest", "--channel", channel])
    assert r.exit_code == 0 and "Posted 10 papers to email:lab.org:ml-reading" in r.output
    r = runner.invoke(cli, ["digest", "--channel", channel])
    assert "Nothing posted" in r.output
    assert len(smtp.mailbox.messages) == 1
    r = runner.invoke(cli, ["command", "--channel", "email:lab:ml", "list"])
    assert r.exit_code == 2 and "ml@lab is not an email address" in r.output


async def test_doctor_logs_in_to_the_smtp_server_by_the_same_rules(smtp):
    from entry.doctor import check_smtp

    def settings(**kw: str | None):  # type: ignore[no-untyped-def]
        values = {"smtp_url": smtp.url, "email_from": "paperbot@lab.org", "public_url": PUBLIC}
        return load_settings(_env_file=None, **{**values, **kw})

    async def line(**kw: str | None) -> str:
        check = check_smtp(settings(**kw), None)  # type: ignore[arg-type]
        assert check is not None
        return (await check).line()

    assert await line() == "ok    email: logged in to 127.0.0.1"
    assert "PAPERBOT_PUBLIC_URL is not set" in await line(public_url=None)
