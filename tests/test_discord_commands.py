"""`/papers` interactions end to end: the stand-in's gateway sends INTERACTION_CREATE, discord.py's
own parsing and CommandTree route it, the handler gets a Command, the reply goes back over REST."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.chat import FAILED_REPLY, DiscordChat
from adapters.discord.commands import papers_group
from bot.models import ChannelRef, Command, Reply, Visibility
from bot.ports import ChatAuthError, TransientChatError
from tests.discord_standin import (
    APP_ID,
    CHANNEL_ID,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    TOKEN,
    USER_ID,
    DiscordStandIn,
    Recorded,
    interaction_payload,
)
from tests.test_discord_render import match_for, paper

EPHEMERAL = 64
MANAGE_CHANNELS = 1 << 4
ADMINISTRATOR = 1 << 3
SUBCOMMANDS = {
    "subscribe",
    "unsubscribe",
    "list",
    "digest",
    "preview",
    "search",
    "trending",
    "schedule",
    "settings",
    "pause",
    "resume",
    "help",
    "like",
    "dislike",
    "unvote",
    "save",
    "unsave",
    "saved",
    "export",
    "more-like",
    "abstract",
    "votes",
}


class Handler:
    """The shared command handler as the adapter sees it: records Commands, answers Replies."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.reply: Callable[[Command], Reply] = lambda c: Reply(f"ok: {c.text}")
        self.gate: asyncio.Event | None = None

    async def __call__(self, command: Command) -> Reply:
        self.commands.append(command)
        if self.gate is not None:
            await self.gate.wait()
        return self.reply(command)


Start = Callable[..., Awaitable[DiscordChat]]


@pytest.fixture
async def standin(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordStandIn]:
    # The adapter sets discord.py's process-global URLs; put them back after each test.
    monkeypatch.setattr(Route, "BASE", Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
    async with DiscordStandIn() as server:
        yield server


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
async def start(standin: DiscordStandIn, handler: Handler) -> AsyncIterator[Start]:
    started: list[DiscordChat] = []

    async def _start(**options: Any) -> DiscordChat:
        options.setdefault("guild_id", int(GUILD_ID))
        options.setdefault("defer_after", 5.0)
        chat = DiscordChat(TOKEN, standin.api_url, guild_ready_timeout=0, **options)
        started.append(chat)
        await chat.start(handler)
        return chat

    yield _start
    for chat in started:
        await chat.stop()


async def answer(
    standin: DiscordStandIn, payload: dict[str, Any], count: int = 1
) -> list[Recorded]:
    """Push the interaction; the requests answering it, once there are `count` of them."""
    await standin.push_interaction(payload)
    await standin.wait_for(lambda: len(standin.answers(payload)) >= count)
    return standin.answers(payload)


async def test_start_registers_papers_in_the_guild_and_returns_when_ready(
    standin: DiscordStandIn, start: Start
) -> None:
    await start()

    assert [(r.method, r.path) for r in standin.requests] == [
        ("GET", "/users/@me"),
        ("GET", "/oauth2/applications/@me"),
        ("GET", "/gateway/bot"),
        ("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands"),
    ]
    [papers] = standin.commands[GUILD_ID]
    assert papers["name"] == "papers" and papers["contexts"] == [0, 1]  # servers and DMs
    assert papers["integration_types"] == [0]  # installed in servers, not by users
    options = {o["name"]: o for o in papers["options"]}
    assert set(options) == SUBCOMMANDS
    schedule = {o["name"]: o for o in options["schedule"]["options"]}
    assert schedule["time"]["required"] is True
    assert schedule["timezone"]["autocomplete"] is True
    assert schedule["days"]["autocomplete"] is True  # daily, weekdays, weekly mon, mon,thu...
    settings = {o["name"]: o for o in options["settings"]["options"]}
    assert {k: settings["max"][k] for k in ("type", "min_value", "max_value")} == {
        "type": 4,
        "min_value": 1,
        "max_value": 50,
    }
    assert settings["threads"]["type"] == 5
    assert options["subscribe"]["options"][0]["max_length"] == 256
    identify = next(e for e in standin.gateway_events if e["op"] == 2)
    assert identify["d"]["token"] == TOKEN


async def test_without_a_guild_commands_are_registered_globally(
    standin: DiscordStandIn, start: Start
) -> None:
    await start(guild_id=None)

    assert [p["name"] for p in standin.commands["global"]] == ["papers"]
    assert GUILD_ID not in standin.commands


@pytest.mark.parametrize(
    ("subcommand", "options", "text"),
    [
        (
            "subscribe",
            {"query": '"classifier-free guidance" -survey'},
            'subscribe "classifier-free guidance" -survey',
        ),
        ("unsubscribe", {"target": "#3"}, "unsubscribe #3"),
        ("unsubscribe", {"target": "all"}, "unsubscribe all"),
        ("list", {}, "list"),
        ("digest", {}, "digest"),
        ("preview", {}, "preview"),
        ("search", {"query": "diffus* cat:cs.CV"}, "search diffus* cat:cs.CV"),
        ("trending", {}, "trending"),
        (
            "schedule",
            {"time": "09:00", "timezone": "Europe/Berlin", "days": "weekdays"},
            "schedule 09:00 Europe/Berlin weekdays",
        ),
        ("schedule", {"time": "18:30", "days": "daily"}, "schedule 18:30 daily"),
        ("schedule", {"time": "off", "timezone": "UTC"}, "schedule off"),
        (
            "settings",
            {"max": 5, "min_upvotes": 3, "threads": True},
            "settings max=5 min-upvotes=3 threads=on",
        ),
        ("settings", {"threads": False}, "settings threads=off"),
        ("settings", {}, "settings"),
        ("pause", {}, "pause"),
        ("resume", {}, "resume"),
        ("help", {}, "help"),
        ("like", {"paper": "arxiv:2410.16251"}, "like arxiv:2410.16251"),
        ("dislike", {"paper": "2410.16251"}, "dislike 2410.16251"),
        ("unvote", {"paper": "arxiv:2410.16251"}, "unvote arxiv:2410.16251"),
        (
            "save",
            {"paper": "https://arxiv.org/abs/2410.16251"},
            "save https://arxiv.org/abs/2410.16251",
        ),
        ("unsave", {"paper": "arxiv:2410.16251"}, "unsave arxiv:2410.16251"),
        ("saved", {}, "saved"),
        ("export", {"format": "bibtex"}, "export bibtex"),
        ("more-like", {"paper": "arxiv:2410.16251"}, "more-like arxiv:2410.16251"),
        ("abstract", {"paper": "arxiv:2410.16251"}, "abstract arxiv:2410.16251"),
    ],
)
async def test_each_subcommand_reaches_the_handler_as_command_text(
    standin: DiscordStandIn,
    start: Start,
    handler: Handler,
    subcommand: str,
    options: dict[str, Any],
    text: str,
) -> None:
    await start()

    await answer(standin, interaction_payload(subcommand, options))

    assert handler.commands == [
        Command(
            channel=ChannelRef("discord", GUILD_ID, CHANNEL_ID),
            user=USER_ID,
            text=text,
            can_manage=True,
        )
    ]


@pytest.mark.parametrize(
    ("admins_only", "permissions", "subcommand", "can_manage"),
    [
        (False, int(MEMBER_PERMISSIONS), "subscribe", True),
        (True, int(MEMBER_PERMISSIONS), "subscribe", False),
        (True, int(MEMBER_PERMISSIONS), "pause", False),
        (True, int(MEMBER_PERMISSIONS), "list", True),
        (True, int(MEMBER_PERMISSIONS) | MANAGE_CHANNELS, "subscribe", True),
        (True, int(MEMBER_PERMISSIONS) | ADMINISTRATOR, "settings", True),
    ],
)
async def test_admins_only_needs_manage_channels_checked_at_run_time(
    standin: DiscordStandIn,
    start: Start,
    handler: Handler,
    admins_only: bool,
    permissions: int,
    subcommand: str,
    can_manage: bool,
) -> None:
    await start(admins_only=admins_only)
    options = {"query": "diffusion"} if subcommand == "subscribe" else {}

    await answer(standin, interaction_payload(subcommand, options, permissions=str(permissions)))

    assert [c.can_manage for c in handler.commands] == [can_manage]


async def test_replies_are_for_the_caller_only_and_never_ping(
    standin: DiscordStandIn, start: Start, handler: Handler
) -> None:
    handler.reply = lambda c: Reply("Subscribed to `@everyone` (#4): **2** papers last week")
    await start()

    [callback] = await answer(standin, interaction_payload("subscribe", {"query": "@everyone"}))

    assert callback.path.endswith("/callback") and callback.body["type"] == 4
    data = callback.body["data"]
    assert data["flags"] == EPHEMERAL
    assert data["allowed_mentions"] == {"parse": []}
    assert data["content"] == "Subscribed to `@\u200beveryone` (#4): **2** papers last week"


async def test_a_reply_meant_for_the_channel_is_shown_to_the_channel(
    standin: DiscordStandIn, start: Start, handler: Handler
) -> None:
    handler.reply = lambda c: Reply("Posted 3 papers.", visibility=Visibility.CHANNEL)
    await start()

    [callback] = await answer(standin, interaction_payload("digest"))

    assert not callback.body["data"].get("flags", 0) & EPHEMERAL
    assert callback.body["data"]["content"] == "Posted 3 papers."


async def test_slow_work_is_deferred_then_answered_by_follow_up(
    standin: DiscordStandIn, start: Start, handler: Handler
) -> None:
    handler.gate = asyncio.Event()
    await start(defer_after=0.01)
    payload = interaction_payload("digest")

    [deferral] = await answer(standin, payload)
    assert deferral.body == {"type": 5, "data": {"flags": EPHEMERAL}}  # "thinking…", caller only
    handler.gate.set()
    await standin.wait_for(lambda: len(standin.answers(payload)) == 2)
    followup = standin.answers(payload)[1]

    assert followup.method == "POST" and followup.path == f"/webhooks/{APP_ID}/{payload['token']}"
    assert followup.body["content"] == "ok: digest"
    assert followup.body["flags"] & EPHEMERAL


async def test_a_slow_reply_for_the_channel_is_posted_for_everyone(
    standin: DiscordStandIn, start: Start, handler: Handler
) -> None:
    handler.gate = asyncio.Event()
    handler.reply = lambda c: Reply("Posted 3 papers.", visibility=Visibility.CHANNEL)
    await start(defer_after=0.01)
    payload = interaction_payload("digest")

    await answer(standin, payload)
    handler.gate.set()
    await standin.wait_for(lambda: len(standin.answers(payload)) == 3)
    _, close, followup = standin.answers(payload)

    assert (close.method, close.path) == (
        "PATCH",
        f"/webhooks/{APP_ID}/{payload['token']}/messages/@original",
    )
    assert followup.body["content"] == "Posted 3 papers."
    assert not followup.body.get("flags", 0) & EPHEMERAL


async def test_a_reply_with_many_papers_comes_as_embeds_over_several_messages(
    standin: DiscordStandIn, start: Start, handler: Handler
) -> None:
    matches = tuple(match_for(paper(i), "diffusion") for i in range(12))
    handler.reply = lambda c: Reply("**12** matches in the last 30 days:", matches=matches)
    await start()
    payload = interaction_payload("search", {"query": "diffusion"})

    callback, followup = await answer(standin, payload, count=2)

    assert len(callback.body["data"]["embeds"]) == 10
    assert callback.body["data"]["content"] == "**12** matches in the last 30 days:"
    assert len(followup.body["embeds"]) == 2 and followup.body["flags"] & EPHEMERAL
    titles = [e["title"] for e in callback.body["data"]["embeds"] + followup.body["embeds"]]
    assert titles[0] == "Video **Diffusion** Models for Long Horizons 0"


async def test_a_failing_handler_gets_a_polite_answer_and_the_bot_keeps_going(
    standin: DiscordStandIn, start: Start, handler: Handler, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(command: Command) -> Reply:
        if command.text == "trending":
            raise RuntimeError("database is locked")
        return Reply("ok")

    handler.reply = explode
    await start()

    with caplog.at_level(logging.ERROR):
        [failed] = await answer(standin, interaction_payload("trending"))
    [worked] = await answer(standin, interaction_payload("list"))

    assert failed.body["data"]["content"] == FAILED_REPLY
    assert failed.body["data"]["flags"] == EPHEMERAL
    assert worked.body["data"]["content"] == "ok"
    assert any("trending" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_time_zones_are_suggested_as_the_user_types(
    standin: DiscordStandIn, start: Start, handler: Handler
) -> None:
    await start()
    payload = interaction_payload(
        "schedule", {"time": "09:00", "timezone": "europe/ber"}, autocomplete="timezone"
    )

    [callback] = await answer(standin, payload)

    assert callback.body == {
        "type": 8,
        "data": {"choices": [{"name": "Europe/Berlin", "value": "Europe/Berlin"}]},
    }
    assert handler.commands == []


async def test_days_are_suggested_and_any_day_list_may_be_typed(
    standin: DiscordStandIn, start: Start, handler: Handler
) -> None:
    await start()
    payload = interaction_payload(
        "schedule", {"time": "09:00", "days": "weekly"}, autocomplete="days"
    )

    [callback] = await answer(standin, payload)

    assert [c["value"] for c in callback.body["data"]["choices"]][:3] == [
        "weekly mon",
        "weekly tue",
        "weekly wed",
    ]
    typed = interaction_payload("schedule", {"time": "09:00", "days": "mon,wed,fri"})
    await answer(standin, typed)
    assert [c.text for c in handler.commands] == ["schedule 09:00 mon,wed,fri"]


async def test_outside_a_server_channel_the_command_is_declined(
    standin: DiscordStandIn, start: Start, handler: Handler
) -> None:
    await start()
    group_dm = interaction_payload("list", guild_id=None)  # a DM with the bot works: not this
    group_dm.update(context=2, channel={**group_dm["channel"], "type": 3})

    [callback] = await answer(standin, group_dm)

    assert handler.commands == []
    assert "server text channel" in callback.body["data"]["content"]


async def test_a_rejected_token_fails_start_with_one_clear_line(
    standin: DiscordStandIn, handler: Handler, caplog: pytest.LogCaptureFixture
) -> None:
    chat = DiscordChat("revoked-token", standin.api_url, int(GUILD_ID), guild_ready_timeout=0)

    with caplog.at_level(logging.ERROR), pytest.raises(ChatAuthError):
        await chat.start(handler)
    await chat.stop()

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["discord: DISCORD_BOT_TOKEN was rejected (401 Unauthorized) while logging in"]
    assert [r.path for r in standin.requests] == ["/users/@me"]
    assert standin.gateway_events == []


async def test_a_gateway_that_never_gets_ready_fails_start_as_transient(
    standin: DiscordStandIn, handler: Handler
) -> None:
    standin.send_ready = False
    chat = DiscordChat(TOKEN, standin.api_url, ready_timeout=0.2, guild_ready_timeout=0)

    with pytest.raises(TransientChatError, match="not ready"):
        await chat.start(handler)

    await standin.wait_for(lambda: standin.connected == 0)
    await chat.stop()


async def test_stop_disconnects_from_the_gateway(standin: DiscordStandIn, start: Start) -> None:
    chat = await start()
    assert standin.connected == 1

    await chat.stop()

    await standin.wait_for(lambda: standin.connected == 0)


async def test_the_tree_can_be_inspected_without_connecting() -> None:
    chat = DiscordChat(TOKEN)

    group = papers_group(chat.tree)

    assert group.name == "papers"
    assert {c.name for c in group.commands} == SUBCOMMANDS
    await chat.stop()


async def test_a_payload_with_unreadable_text_reaches_the_core_cleaned(
    standin: DiscordStandIn, start: Start, handler: Handler
) -> None:
    # Discord's JSON may carry a lone surrogate (`"\udcff"`) or a control character.
    await start()
    await answer(standin, interaction_payload("subscribe", {"query": "diffusion\udcff\x00"}))
    assert [c.text for c in handler.commands] == ["subscribe diffusion\ufffd\ufffd"]
