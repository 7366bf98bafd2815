"""Slack over HTTP: signed slash commands posted to the real Bolt app behind our aiohttp server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import parse_qs

import aiohttp
import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from adapters.slack.chat import SlackChat
from adapters.slack.server import is_signed_by_slack
from bot.models import ChannelRef, Command, Reply, Visibility
from bot.ports import ChatAuthError
from config.settings import Settings, SettingsError
from tests.slack_papers import match, paper
from tests.slack_standin import SlackStandin, sign, signed_headers, slash_command_body

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_767_225_600  # the server's clock in these tests
FIXTURES = Path(__file__).parent / "fixtures"


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


class Commands:
    """The core's command handler, faked: records Commands, answers `reply` once `gate` opens."""

    def __init__(self, reply: Reply | None = None) -> None:
        self.received: list[Command] = []
        self.reply = reply or Reply("**Subscribed** to `diffusion`")
        self.gate = asyncio.Event()
        self.gate.set()
        self.done = asyncio.Event()

    async def __call__(self, command: Command) -> Reply:
        self.received.append(command)
        await self.gate.wait()
        self.done.set()
        return self.reply


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        standin.add_user("U0ALICE")
        standin.add_user("U0BOSS", is_admin=True)
        standin.add_user("U0OWNER", is_owner=True)
        yield standin


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest.fixture
async def start(slack: SlackStandin, commands: Commands) -> AsyncIterator[Callable[..., object]]:
    started: list[SlackChat] = []

    async def _start(**options: object) -> SlackChat:
        values: dict[str, object] = {
            "bot_token": slack.bot_token,
            "signing_secret": SECRET,
            "api_url": slack.api_url,
            "host": "127.0.0.1",
            "port": 0,
            "signature_clock": FixedClock(NOW),
        }
        values.update(options)
        chat = SlackChat(**values)  # type: ignore[arg-type]
        await chat.start(commands)
        started.append(chat)
        return chat

    yield _start
    for chat in started:
        await chat.stop()


async def send(
    chat: SlackChat, body: str, headers: dict[str, str] | None = None, timestamp: int = NOW
) -> tuple[int, str]:
    assert chat.address is not None
    host, port = chat.address
    headers = headers if headers is not None else signed_headers(SECRET, timestamp, body)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://{host}:{port}/slack/events", data=body.encode(), headers=headers
        ) as resp,
    ):
        return resp.status, await resp.text()


def test_signatures_match_slacks_documented_example() -> None:
    # Slack's own example ("Verifying requests from Slack"), a real slash-command body.
    example = json.loads((FIXTURES / "slack_request_signing_example.json").read_text())
    body = example["body"]
    timestamp = example["headers"]["X-Slack-Request-Timestamp"]
    signature = example["headers"]["X-Slack-Signature"]
    assert body == (FIXTURES / "slack_slash_command.txt").read_text().strip()

    assert sign(example["signing_secret"], timestamp, body) == signature
    verifier = SignatureVerifier(example["signing_secret"], FixedClock(example["mock_clock_now"]))
    assert is_signed_by_slack(verifier, body.encode(), example["headers"])
    assert not is_signed_by_slack(
        verifier, body.replace("text=", "text=x").encode(), example["headers"]
    )
    later = SignatureVerifier(
        example["signing_secret"], FixedClock(example["mock_clock_now"] + 301)
    )
    assert not is_signed_by_slack(later, body.encode(), example["headers"])


async def test_a_slow_command_is_acked_at_once_and_answered_at_response_url(
    start: Callable[..., object], slack: SlackStandin, commands: Commands
) -> None:
    chat = await start()
    commands.gate.clear()  # the core is busy: on_command will not finish until we say so
    body = slash_command_body(text="subscribe diffusion", response_url=slack.response_url("r1"))

    began = time.monotonic()
    status, text = await asyncio.wait_for(send(chat, body), timeout=3)
    acked_in = time.monotonic() - began

    assert status == 200 and text == ""
    assert acked_in < 3 and not commands.done.is_set()
    assert commands.received == [
        Command(
            channel=ChannelRef("slack", "T0STANDIN", "C0PAPERS"),
            user="U0ALICE",
            text="subscribe diffusion",
            can_manage=True,
        )
    ]
    assert slack.responses == []

    commands.gate.set()
    answer = await slack.next_response()
    assert answer["_key"] == "r1"
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "Subscribed to `diffusion`"
    assert answer["blocks"][0]["text"]["text"] == "*Subscribed* to `diffusion`"


async def test_a_channel_reply_with_papers_is_posted_in_channel(
    start: Callable[..., object], slack: SlackStandin, commands: Commands
) -> None:
    commands.reply = Reply(
        "Digest posted", visibility=Visibility.CHANNEL, matches=(match(paper(), "diffusion"),)
    )
    chat = await start()

    await send(chat, slash_command_body(text="digest", response_url=slack.response_url()))
    answer = await slack.next_response()

    assert answer["response_type"] == "in_channel"
    assert answer["unfurl_links"] is False
    assert "Fast *Diffusion* Models" in answer["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(
    ("case", "make_headers"),
    [
        ("bad signature", lambda body: signed_headers("not-the-secret", NOW, body)),
        ("stale timestamp", lambda body: signed_headers(SECRET, NOW - 301, body)),
        ("future timestamp", lambda body: signed_headers(SECRET, NOW + 301, body)),
        ("no headers", lambda body: {"Content-Type": "application/x-www-form-urlencoded"}),
        (
            "garbage timestamp",
            lambda body: {**signed_headers(SECRET, NOW, body), "X-Slack-Request-Timestamp": "soon"},
        ),
    ],
)
async def test_forged_or_stale_requests_are_rejected_and_change_nothing(
    start: Callable[..., object],
    slack: SlackStandin,
    commands: Commands,
    case: str,
    make_headers: Callable[[str], dict[str, str]],
) -> None:
    chat = await start()
    body = slash_command_body(text="unsubscribe all", response_url=slack.response_url())
    calls_before = len(slack.calls)

    status, _ = await send(chat, body, headers=make_headers(body))
    await asyncio.sleep(0)  # let anything that was (wrongly) started run

    assert status == 401, case
    assert commands.received == []
    assert slack.responses == [] and len(slack.calls) == calls_before


async def test_a_timestamp_within_five_minutes_is_accepted(
    start: Callable[..., object], slack: SlackStandin, commands: Commands
) -> None:
    chat = await start()
    body = slash_command_body(text="list", response_url=slack.response_url())
    status, _ = await send(chat, body, timestamp=NOW - 299)
    assert status == 200
    await slack.next_response()
    assert [c.text for c in commands.received] == ["list"]


async def test_health_answers_200_or_503(start: Callable[..., object]) -> None:
    state = {"db": True}

    async def health() -> bool:
        if state["db"] is None:
            raise ConnectionError("database gone")
        return bool(state["db"])

    chat = await start(health=health)
    assert chat.address is not None
    url = f"http://{chat.address[0]}:{chat.address[1]}/healthz"
    async with aiohttp.ClientSession() as session:
        for db, expected in (
            (True, (200, {"ok": True})),
            (False, (503, {"ok": False})),
            (None, (503, {"ok": False})),
        ):
            state["db"] = db
            async with session.get(url) as resp:
                assert (resp.status, await resp.json()) == expected


async def test_a_failing_command_gets_a_polite_error(
    start: Callable[..., object], slack: SlackStandin, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(command: Command) -> Reply:
        raise RuntimeError("database is locked")

    chat = SlackChat(
        bot_token=slack.bot_token,
        signing_secret=SECRET,
        api_url=slack.api_url,
        host="127.0.0.1",
        port=0,
        signature_clock=FixedClock(NOW),
    )
    await chat.start(broken)
    try:
        await send(chat, slash_command_body(text="list", response_url=slack.response_url()))
        answer = await slack.next_response()
    finally:
        await chat.stop()
    assert answer["response_type"] == "ephemeral"
    assert answer["blocks"][0]["text"]["text"].startswith(":warning: Sorry, something went wrong")
    assert "database is locked" in caplog.text


async def test_start_with_a_rejected_token_raises_and_serves_nothing(slack: SlackStandin) -> None:
    chat = SlackChat(
        bot_token="xoxb-wrong",
        signing_secret=SECRET,
        api_url=slack.api_url,
        host="127.0.0.1",
        port=0,
    )
    with pytest.raises(ChatAuthError, match="invalid_auth"):
        await chat.start(Commands())
    assert chat.address is None


# --- who may manage a channel -----------------------------------------------------------------


def payload(user: str, text: str) -> dict[str, str]:
    return {
        k: v[0]
        for k, v in parse_qs(slash_command_body(text=text, user_id=user, response_url="x")).items()
    }


@pytest.fixture
async def admins_only(slack: SlackStandin) -> AsyncIterator[SlackChat]:
    chat = SlackChat(
        bot_token=slack.bot_token,
        signing_secret=SECRET,
        api_url=slack.api_url,
        admins_only=True,
        admin_users=["U0CAROL"],
    )
    yield chat
    await chat.stop()


@pytest.mark.parametrize(
    ("user", "text", "can_manage"),
    [
        ("U0ALICE", "subscribe diffusion", False),
        ("U0BOSS", "subscribe diffusion", True),
        ("U0OWNER", "schedule 08:00 Europe/Berlin", True),
        ("U0CAROL", "unsubscribe all", True),
        ("U0ALICE", "list", True),
        ("U0NOBODY", "pause", False),
    ],
)
async def test_admins_only_lets_admins_owners_and_listed_users_manage(
    admins_only: SlackChat, user: str, text: str, can_manage: bool
) -> None:
    command = await admins_only.to_command(payload(user, text))
    assert command.can_manage is can_manage
    assert command.user == user and command.text == text


async def test_users_info_is_asked_only_when_needed_and_cached(
    admins_only: SlackChat, slack: SlackStandin
) -> None:
    await admins_only.to_command(payload("U0CAROL", "subscribe x"))
    await admins_only.to_command(payload("U0ALICE", "list"))
    assert slack.calls_to("users.info") == []

    for _ in range(3):
        await admins_only.to_command(payload("U0BOSS", "subscribe x"))
    assert len(slack.calls_to("users.info")) == 1


async def test_command_text_arrives_as_the_user_typed_it(slack: SlackStandin) -> None:
    chat = SlackChat(bot_token=slack.bot_token, signing_secret=SECRET, api_url=slack.api_url)
    typed = 'subscribe "R&D" upvotes:>=10 -<survey>'
    sent = payload("U0ALICE", typed)
    assert sent["text"] == 'subscribe "R&amp;D" upvotes:&gt;=10 -&lt;survey&gt;'  # Slack's escaping
    command = await chat.to_command(sent)
    assert command.text == typed


async def test_everyone_manages_without_admins_only(slack: SlackStandin) -> None:
    chat = SlackChat(bot_token=slack.bot_token, signing_secret=SECRET, api_url=slack.api_url)
    command = await chat.to_command(payload("U0ALICE", "subscribe diffusion"))
    assert command.can_manage is True and slack.calls_to("users.info") == []


async def test_a_refused_manage_command_reaches_the_core_over_http(
    start: Callable[..., object], slack: SlackStandin, commands: Commands
) -> None:
    chat = await start(admins_only=True)
    await send(chat, slash_command_body(text="subscribe gans", response_url=slack.response_url()))
    await slack.next_response()
    assert [(c.user, c.can_manage) for c in commands.received] == [("U0ALICE", False)]


def settings(**values: str | None) -> Settings:
    """Settings from these values only: no environment, no .env file."""
    tokens = {"slack_app_token": None, "slack_signing_secret": None} | values
    return Settings(_env_file=None, slack_bot_token="xoxb-1", **tokens)  # type: ignore[call-arg]


def test_from_settings_picks_the_mode_and_names_a_missing_secret() -> None:
    socket = SlackChat.from_settings(settings(slack_app_token="xapp-1"), health=_healthy)
    http = SlackChat.from_settings(settings(slack_signing_secret="s"), health=_healthy)
    assert (socket.mode, http.mode) == ("socket", "http")
    with pytest.raises(SettingsError, match=r"^SLACK_SIGNING_SECRET: required"):
        SlackChat.from_settings(settings(), health=_healthy)


async def _healthy() -> bool:
    return True
