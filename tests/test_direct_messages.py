"""Personal digests in a direct message with the bot: `/papers` typed in Slack's App Home
Messages tab (over HTTP, signed, through Bolt) and in a Discord DM (through discord.py's
dispatch), the real handler, pipeline and database, and the digest posted in that DM."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.chat import DiscordChat
from adapters.slack.chat import OTHER_DM_REPLY, SlackChat
from bot.commands.handler import CommandHandler
from bot.delivery.pipeline import Pipeline
from bot.models import ChannelRef, Schedule
from bot.stores import Stores
from tests.conftest import ListSource, paper
from tests.discord_standin import (
    CHANNEL_ID,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    TOKEN,
    DiscordStandIn,
    interaction_payload,
    message_problems,
)
from tests.fakes import FakeClock
from tests.slack_standin import SlackStandin, dm_channel, signed_headers, slash_command_body

SECRET = "dm-signing-secret"
ALICE = "U0ALICE"
ALICE_DM = dm_channel(ALICE)  # D0ALICE
DISCORD_DM = "1310000000000000042"  # the DM channel between the bot and the user
PAPERS = [
    paper(1, "Video Diffusion Models at Scale", "We train diffusion models on video.", upvotes=7),
    paper(2, "Sparse Attention for Long Context", "Transformers with long context windows."),
]
ADMINS_ONLY = "Sorry, only admins can change this channel"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the database backends are covered elsewhere; this is about DMs."""
    return f"sqlite+aiosqlite:///{tmp_path / 'dm.db'}"


# --- Slack ---------------------------------------------------------------------------------------


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        standin.add_user(ALICE)  # a member, not a workspace admin
        yield standin


@pytest.fixture
async def slack_bot(
    stores: Stores, clock: FakeClock, source: ListSource, slack: SlackStandin
) -> AsyncIterator[tuple[SlackChat, Pipeline]]:
    chat = SlackChat(
        bot_token=slack.bot_token,
        signing_secret=SECRET,
        api_url=slack.api_url,
        host="127.0.0.1",
        port=0,
        admins_only=True,
        sleep=lambda s: asyncio.sleep(0),
    )
    pipe = Pipeline(stores, {"list": source}, {"slack": chat}, clock)
    await chat.start(CommandHandler(pipe, Schedule()))
    source.papers = list(PAPERS)
    await pipe.poll("list", force=True)
    yield chat, pipe
    await chat.stop()


async def slack_slash(
    chat: SlackChat, slack: SlackStandin, text: str, channel_id: str, channel_name: str
) -> dict[str, Any]:
    """POST a signed slash command as Slack does from `channel_id`; the reply it got."""
    body = slash_command_body(
        text=text,
        response_url=slack.response_url(),
        channel_id=channel_id,
        channel_name=channel_name,
        user_id=ALICE,
    )
    host, port = chat.address  # type: ignore[misc]
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


async def test_slack_a_personal_digest_in_the_app_home_messages_tab(
    slack_bot: tuple[SlackChat, Pipeline], slack: SlackStandin, stores: Stores
) -> None:
    chat, _ = slack_bot
    dm = ChannelRef("slack", "T0STANDIN", ALICE_DM)

    said = await slack_slash(chat, slack, "subscribe diffusion", ALICE_DM, "directmessage")
    assert "Subscribed to `diffusion`" in said["text"]  # admins-only is not for one's own DM
    said = await slack_slash(
        chat, slack, "schedule 08:00 Europe/Berlin weekly fri", ALICE_DM, "directmessage"
    )
    assert "08:00 Europe/Berlin weekly fri" in said["text"]
    assert [s.canonical for s in await stores.channels.subscriptions(dm)] == ["diffusion"]
    said = await slack_slash(chat, slack, "digest", ALICE_DM, "directmessage")
    assert "Posted" in said["text"], said["text"]

    [message] = slack.posted(ALICE_DM)
    sections = " ".join(b["text"]["text"] for b in message["blocks"] if b["type"] == "section")
    assert "Video *Diffusion* Models at Scale" in sections
    assert message["blocks"][0]["text"]["text"].startswith("New papers this week")
    assert slack.posted("C0PAPERS") == []
    [opened] = slack.calls_to("conversations.open")  # once; the DM is then known
    assert opened.args["users"] == ALICE


async def test_slack_admins_only_still_applies_in_a_channel(
    slack_bot: tuple[SlackChat, Pipeline], slack: SlackStandin, stores: Stores
) -> None:
    chat, _ = slack_bot

    said = await slack_slash(chat, slack, "subscribe diffusion", "C0PAPERS", "papers")

    assert ADMINS_ONLY in said["text"]
    assert await stores.channels.subscriptions(ChannelRef("slack", "T0STANDIN", "C0PAPERS")) == []
    said = await slack_slash(chat, slack, "list", "C0PAPERS", "papers")
    assert ADMINS_ONLY not in said["text"]  # reading is for everyone


async def test_slack_a_dm_between_people_gets_told_where_to_go(
    slack_bot: tuple[SlackChat, Pipeline], slack: SlackStandin, stores: Stores
) -> None:
    chat, _ = slack_bot

    said = await slack_slash(chat, slack, "subscribe diffusion", "D0ALICEBOB", "directmessage")

    assert said["text"] == OTHER_DM_REPLY
    assert await stores.channels.all() == []  # nothing changed


# --- Discord -------------------------------------------------------------------------------------


@pytest.fixture
async def discord_standin(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordStandIn]:
    monkeypatch.setattr(Route, "BASE", Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
    async with DiscordStandIn() as server:
        yield server


@pytest.fixture
async def discord_bot(
    discord_standin: DiscordStandIn, stores: Stores, clock: FakeClock, source: ListSource
) -> AsyncIterator[Pipeline]:
    chat = DiscordChat(
        TOKEN, discord_standin.api_url, int(GUILD_ID), admins_only=True, guild_ready_timeout=0
    )
    pipeline = Pipeline(stores, {"list": source}, {"discord": chat}, clock)
    await chat.start(CommandHandler(pipeline, Schedule()))
    source.papers = list(PAPERS)
    await pipeline.poll("list", force=True)
    yield pipeline
    await chat.stop()


async def discord_slash(
    standin: DiscordStandIn, sub: str, options: dict[str, Any], *, dm: bool
) -> str:
    """`/papers <sub>` in the DM with the bot, or in the server channel by a plain member."""
    payload = (
        interaction_payload(sub, options, guild_id=None, channel_id=DISCORD_DM)
        if dm
        else interaction_payload(sub, options, permissions=MEMBER_PERMISSIONS)
    )
    await standin.push_interaction(payload)
    await standin.wait_for(lambda: bool(standin.answers(payload)))
    [callback] = standin.answers(payload)
    return str(callback.body["data"].get("content", ""))


async def test_discord_a_personal_digest_in_a_dm_with_the_bot(
    discord_standin: DiscordStandIn, discord_bot: Pipeline, stores: Stores
) -> None:
    dm = ChannelRef("discord", "dm", DISCORD_DM)

    said = await discord_slash(discord_standin, "subscribe", {"query": "diffusion"}, dm=True)
    assert "Subscribed to `diffusion` (#1)" in said
    said = await discord_slash(
        discord_standin, "schedule", {"time": "07:00", "days": "mon,thu"}, dm=True
    )
    assert "07:00 UTC mon,thu" in said
    said = await discord_slash(discord_standin, "digest", {}, dm=True)
    assert "Posted **1** papers" in said or "Posted **1** paper" in said, said

    [message] = discord_standin.messages[DISCORD_DM]
    assert message_problems(message) == []
    assert [e["title"] for e in message["embeds"]] == ["Video **Diffusion** Models at Scale"]
    assert CHANNEL_ID not in discord_standin.messages
    assert [str(c.ref) for c in await stores.channels.all()] == [f"discord:dm:{DISCORD_DM}"]
    assert (await stores.channels.get(dm)).schedule.describe() == "07:00 UTC mon,thu"  # type: ignore[union-attr]


async def test_discord_admins_only_still_applies_in_a_server_channel(
    discord_standin: DiscordStandIn, discord_bot: Pipeline, stores: Stores
) -> None:
    said = await discord_slash(discord_standin, "subscribe", {"query": "diffusion"}, dm=False)

    assert ADMINS_ONLY in said
    assert await stores.channels.all_subscriptions() == []
