"""Slack end to end: signed /papers commands and Block Kit digests through the real handler,
pipeline and database, with slack_sdk and Bolt against the local Slack stand-in."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from typer.testing import CliRunner

from adapters.slack.chat import SlackChat
from bot.commands.handler import CommandHandler
from bot.delivery.pipeline import Pipeline
from bot.models import ChannelRef, Schedule
from entry.cli import cli
from tests.conftest import paper
from tests.slack_standin import SlackStandin, signed_headers, slash_command_body

SECRET = "e2e-signing-secret"
CH = ChannelRef("slack", "T0STANDIN", "C0PAPERS")
PAPERS = [
    paper(1, "Video Diffusion at Scale", "We train diffusion models.", upvotes=12),
    paper(2, "<!channel> alert: diffusion @everyone <@U123>", "Mentions & links <https://x|y>."),
    paper(3, "Sparse Attention", "Long context."),
]


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        yield standin


@pytest.fixture
async def bot(stores, clock, source, slack) -> AsyncIterator[tuple[SlackChat, Pipeline]]:  # type: ignore[no-untyped-def]
    chat = SlackChat(
        bot_token=slack.bot_token,
        signing_secret=SECRET,
        api_url=slack.api_url,
        host="127.0.0.1",
        port=0,
        sleep=lambda s: asyncio.sleep(0),
    )
    pipe = Pipeline(stores, {"list": source}, {"slack": chat}, clock)
    await chat.start(CommandHandler(pipe, Schedule()))
    yield chat, pipe
    await chat.stop()


async def slash(chat: SlackChat, slack: SlackStandin, text: str) -> tuple[int, float, dict]:  # type: ignore[type-arg]
    body = slash_command_body(text=text, response_url=slack.response_url())
    host, port = chat.address  # type: ignore[misc]
    began = time.monotonic()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://{host}:{port}/slack/events",
            data=body.encode(),
            headers=signed_headers(SECRET, int(time.time()), body),
        ) as resp,
    ):
        status = resp.status
    acked_in = time.monotonic() - began
    return status, acked_in, await slack.next_response()


async def test_subscribe_digest_once_rate_limit_and_no_mentions(bot, slack, source, stores, clock):  # type: ignore[no-untyped-def]
    chat, pipe = bot
    status, acked_in, answer = await slash(chat, slack, "subscribe diffusion")
    assert status == 200 and acked_in < 3
    assert answer["response_type"] == "ephemeral" and "Subscribed to `diffusion`" in answer["text"]
    assert [s.canonical for s in await stores.channels.subscriptions(CH)] == ["diffusion"]

    source.papers = PAPERS
    await pipe.poll("list", force=True)
    slack.rate_limit("chat.postMessage", retry_after=1)
    report = await pipe.run_digest(CH)
    assert report.posted == 1 and report.papers == 2
    [message] = slack.posted("C0PAPERS")  # the 429 was waited out; the post landed once
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert message["blocks"][0]["type"] == "header"
    sections = " ".join(b["text"]["text"] for b in message["blocks"] if b["type"] == "section")
    assert "*Diffusion*" in sections  # matched terms in bold
    assert "&lt;!channel&gt; alert" in sections and "<!channel>" not in sections
    assert "<@U123>" not in sections and "<https://x|y>" not in sections
    assert message["text"]  # the plain-text fallback
    assert message["unfurl_links"] in (False, "false", "0", 0)

    clock.advance(minutes=5)
    report = await pipe.run_digest(CH)
    assert report.posted == 0 and len(slack.posted("C0PAPERS")) == 1  # never twice


async def test_an_archived_channel_is_marked_inactive(bot, slack, source, stores):  # type: ignore[no-untyped-def]
    chat, pipe = bot
    await slash(chat, slack, "subscribe diffusion")
    source.papers = PAPERS
    await pipe.poll("list", force=True)
    slack.fail("chat.postMessage", "is_archived")
    report = await pipe.run_digest(CH)
    assert "inactive" in (report.note or "")
    assert not (await stores.channels.get(CH)).active
    assert slack.posted("C0PAPERS") == []


async def test_a_digest_slack_refuses_as_blocks_goes_out_as_plain_text_once(bot, slack, source):  # type: ignore[no-untyped-def]
    chat, pipe = bot
    await slash(chat, slack, "subscribe diffusion")
    source.papers = PAPERS
    await pipe.poll("list", force=True)
    slack.fail("chat.postMessage", "invalid_blocks")

    report = await pipe.run_digest(CH)

    assert report.posted == 1 and report.papers == 2 and report.pending == 0
    [message] = slack.posted("C0PAPERS")
    assert message["blocks"] == []  # text alone, still carrying the delivery id
    assert message["metadata"]["event_payload"]["delivery_id"]
    assert "• <https://arxiv.org/abs/1|Video Diffusion at Scale>" in message["text"]
    assert "&lt;!channel&gt; alert" in message["text"] and "<!channel>" not in message["text"]
    assert len(slack.calls_to("chat.postMessage")) == 2


@pytest.fixture
def threaded_slack() -> Iterator[SlackStandin]:
    """The stand-in on its own loop in a thread, for CLI commands that run their own loop."""
    loop = asyncio.new_event_loop()
    standin = SlackStandin()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(standin.__aenter__())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield standin
    asyncio.run_coroutine_threadsafe(standin.__aexit__(None, None, None), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_cli_digest_posts_block_kit_to_slack_once(threaded_slack, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PAPERBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PAPERBOT_SOURCES", "sample")
    monkeypatch.setenv("SLACK_BOT_TOKEN", threaded_slack.bot_token)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("PAPERBOT_SLACK_API_URL", threaded_slack.api_url)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    runner = CliRunner()
    channel = "slack:T1:C1"
    assert (
        runner.invoke(cli, ["command", "--channel", channel, "subscribe diffusion"]).exit_code == 0
    )
    assert runner.invoke(cli, ["poll"]).exit_code == 0
    first = runner.invoke(cli, ["digest", "--channel", channel])
    assert "Posted 10 papers to slack:T1:C1 in 1 message(s)" in first.output, first.output
    second = runner.invoke(cli, ["digest", "--channel", channel])
    assert "Nothing posted" in second.output
    [message] = threaded_slack.posted("C1")
    assert sum(b["type"] == "section" for b in message["blocks"]) == 10


async def test_digest_buttons_vote_through_the_real_handler_and_database(
    bot, slack, source, stores
):  # type: ignore[no-untyped-def]
    import json
    from urllib.parse import urlencode

    chat, pipe = bot
    await slash(chat, slack, "subscribe diffusion")
    source.papers = PAPERS
    await pipe.poll("list", force=True)
    await pipe.run_digest(CH)
    [message] = slack.posted("C0PAPERS")
    [like] = [
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["value"] == "arxiv:2611.00001" and e["action_id"] == "paper_like"
    ]

    async def press(action_id: str, value: str) -> dict:  # type: ignore[type-arg]
        payload = {
            "type": "block_actions",
            "user": {"id": "U0ALICE", "team_id": "T0STANDIN"},
            "team": {"id": "T0STANDIN"},
            "channel": {"id": "C0PAPERS"},
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": "C0PAPERS"},
            "message": message,
            "response_url": slack.response_url("press"),
            "actions": [{"action_id": action_id, "value": value, "type": "button"}],
        }
        body = urlencode({"payload": json.dumps(payload)})
        host, port = chat.address
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://{host}:{port}/slack/events",
                data=body.encode(),
                headers=signed_headers(SECRET, int(time.time()), body),
            ) as resp,
        ):
            assert resp.status == 200
        return await slack.next_response()

    first = await press(like["action_id"], like["value"])
    [vote] = await stores.votes.for_channel(CH)
    assert (vote.user, vote.paper_id, vote.value, vote.message) == (
        "U0ALICE",
        "arxiv:2611.00001",
        1,
        message["ts"],
    )
    assert first["response_type"] == "ephemeral" and first["replace_original"] is False
    again = await press("paper_like", "arxiv:2611.00001")  # pressed twice: withdrawn
    assert "withdrawn" in again["text"] and await stores.votes.for_channel(CH) == []
    gone = await press("paper_like", "arxiv:2301.99999")  # a digest from before: paper pruned
    assert gone["text"].startswith("No stored paper `arxiv:2301.99999`")
    assert await stores.votes.for_channel(CH) == []
