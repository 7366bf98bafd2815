"""Discord with the real command handler, pipeline and database: `/papers ...` typed in a server,
the digest posted as embeds, everything through discord.py against the local stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.chat import DiscordChat
from bot.commands.handler import CommandHandler
from bot.delivery.pipeline import Pipeline
from bot.models import Command, Reply, Schedule
from bot.stores import Stores
from tests.conftest import ListSource, paper
from tests.discord_standin import (
    CHANNEL_ID,
    GUILD_ID,
    TOKEN,
    DiscordStandIn,
    interaction_payload,
    message_problems,
)
from tests.fakes import FakeClock

PAPERS = [
    paper(1, "Video Diffusion Models at Scale", "We train diffusion models on video.", upvotes=7),
    paper(2, "Sparse Attention for Long Context", "Transformers with long context windows."),
    paper(3, "A Survey of Diffusion Models", "We review diffusion.", upvotes=50),
]


class Bot:
    """The real handler, with every Reply it gave kept for the test to read."""

    def __init__(self, handler: CommandHandler) -> None:
        self.handler = handler
        self.replies: list[tuple[Command, Reply]] = []

    async def __call__(self, command: Command) -> Reply:
        reply = await self.handler(command)
        self.replies.append((command, reply))
        return reply


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the database backends are covered elsewhere; this is about Discord."""
    return f"sqlite+aiosqlite:///{tmp_path / 'discord.db'}"


@pytest.fixture
async def standin(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordStandIn]:
    monkeypatch.setattr(Route, "BASE", Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
    async with DiscordStandIn() as server:
        yield server


@pytest.fixture
async def running(
    standin: DiscordStandIn, stores: Stores, clock: FakeClock, source: ListSource
) -> AsyncIterator[Bot]:
    chat = DiscordChat(TOKEN, standin.api_url, int(GUILD_ID), guild_ready_timeout=0)
    pipeline = Pipeline(stores, {"list": source}, {"discord": chat}, clock)
    bot = Bot(CommandHandler(pipeline, Schedule()))
    await chat.start(bot)
    source.papers = list(PAPERS)
    await pipeline.poll("list", force=True)
    yield bot
    await chat.stop()


async def slash(standin: DiscordStandIn, sub: str, options: dict[str, Any] | None = None) -> str:
    """Type `/papers <sub>` in the channel; the text of the (ephemeral) answer."""
    payload = interaction_payload(sub, options)
    await standin.push_interaction(payload)
    await standin.wait_for(lambda: bool(standin.answers(payload)))
    [callback] = standin.answers(payload)
    assert callback.body["data"]["flags"] == 64
    return str(callback.body["data"].get("content", ""))


async def test_subscribe_then_digest_posts_embeds_in_the_channel(
    standin: DiscordStandIn, running: Bot
) -> None:
    said = await slash(standin, "subscribe", {"query": "diffusion"})
    assert "Subscribed to `diffusion` (#1)" in said

    said = await slash(standin, "digest")

    assert "Posted **2** papers in 1 message(s)" in said
    [message] = standin.messages[CHANNEL_ID]
    assert message_problems(message) == []
    assert [e["title"] for e in message["embeds"]] == [
        "A Survey of **Diffusion** Models",
        "Video **Diffusion** Models at Scale",
    ]
    [post] = standin.calls("POST", f"/channels/{CHANNEL_ID}/messages")
    assert post.body["enforce_nonce"] is True and post.body["allowed_mentions"] == {"parse": []}

    assert "Nothing new" in await slash(standin, "digest")
    assert len(standin.messages[CHANNEL_ID]) == 1


@pytest.mark.parametrize(
    ("sub", "options"),
    [
        ("subscribe", {"query": '"long context" OR title:video'}),
        ("list", {}),
        ("preview", {}),
        ("search", {"query": "diffus*"}),
        ("trending", {}),
        ("schedule", {"time": "07:30", "timezone": "Europe/Berlin", "days": "weekdays"}),
        ("schedule", {"time": "off"}),
        ("settings", {"max": 5, "min_upvotes": 3, "threads": True}),
        ("settings", {}),
        ("pause", {}),
        ("resume", {}),
        ("help", {}),
    ],
)
async def test_every_subcommand_is_understood_by_the_shared_handler(
    standin: DiscordStandIn, running: Bot, sub: str, options: dict[str, Any]
) -> None:
    await slash(standin, sub, options)

    [(command, reply)] = running.replies
    assert not reply.error, f"{command.text!r} -> {reply.text}"


async def test_unsubscribe_by_id_and_all(standin: DiscordStandIn, running: Bot) -> None:
    await slash(standin, "subscribe", {"query": "diffusion"})
    await slash(standin, "subscribe", {"query": "attention"})

    await slash(standin, "unsubscribe", {"target": "#1"})
    listed = await slash(standin, "list")
    await slash(standin, "unsubscribe", {"target": "all"})

    assert "`attention`" in listed and "`diffusion`" not in listed
    assert [r.error for _, r in running.replies] == [False] * 5
    assert "follows nothing" in await slash(standin, "list")
