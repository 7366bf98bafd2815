"""Digest buttons in Discord: a row 👍 👎 🔖 Abstract per paper, persistent custom_ids, presses
through the stand-in's gateway and discord.py's own view store and DynamicItems, answered to the
presser only; exports as an attachment on the reply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

import adapters.discord.chat as discord_chat
from adapters.discord.buttons import custom_id, digest_view
from adapters.discord.chat import DiscordChat
from adapters.discord.render import MAX_ACTION_ROWS, digest_message, fits
from bot.commands.feedback import button_ref
from bot.delivery.digest import paginate
from bot.models import Attachment, ChannelRef, Command, Digest, Reply, Visibility
from tests.discord_standin import (
    CHANNEL_ID,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    TOKEN,
    USER_ID,
    DiscordStandIn,
    Recorded,
    component_payload,
    interaction_payload,
    message_problems,
)
from tests.test_discord_render import match_for, paper

EPHEMERAL = 64
CHANNEL = ChannelRef("discord", GUILD_ID, CHANNEL_ID)
KNOWN = {f"arxiv:2406.{12345 + n}" for n in range(1, 8)}
CSV = b"id,title\narxiv:2406.12346,Video Diffusion Models for Long Horizons 1\n"


class Handler:
    """The shared command handler, faked: records Commands; an unknown paper gets the error the
    real handler gives (and changes nothing)."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.reply: Callable[[Command], Reply] = lambda c: Reply(f"ok: {c.text}")
        self.gate: asyncio.Event | None = None

    async def __call__(self, command: Command) -> Reply:
        self.commands.append(command)
        if self.gate is not None:
            await self.gate.wait()
        words = command.text.split()
        if words[0] in ("like", "dislike", "save", "abstract") and words[-1] not in KNOWN:
            return Reply(f"No stored paper `{words[-1]}`: it may have been pruned.", error=True)
        if not command.can_manage:
            return Reply("Only members with Manage Channels may vote here.", error=True)
        return self.reply(command)


Start = Callable[..., Awaitable[DiscordChat]]


@pytest.fixture
async def standin(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordStandIn]:
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
        options.setdefault("defer_after", 5.0)
        chat = DiscordChat(TOKEN, standin.api_url, int(GUILD_ID), guild_ready_timeout=0, **options)
        started.append(chat)
        await chat.start(handler)
        return chat

    yield _start
    for chat in started:
        await chat.stop()


def seven() -> Digest:
    items = tuple(match_for(paper(n), "diffusion") for n in range(1, 8))
    return Digest(channel=CHANNEL, items=items, more=2)


async def answers(
    standin: DiscordStandIn, payload: dict[str, Any], count: int = 1
) -> list[Recorded]:
    await standin.push_interaction(payload)
    await standin.wait_for(lambda: len(standin.answers(payload)) >= count)
    return standin.answers(payload)


async def post_digest(chat: DiscordChat, standin: DiscordStandIn) -> list[dict[str, Any]]:
    for page in chat.paginate(seven()):
        await chat.post(CHANNEL, page, f"delivery-9:{page.page}")
    return standin.messages[CHANNEL_ID]


# --- rendering --------------------------------------------------------------------------------


def test_a_digest_message_holds_five_papers_each_with_a_numbered_row() -> None:
    pages = paginate(seven(), fits)

    assert [len(p.items) for p in pages] == [5, 2]
    first = digest_message(pages[0])
    assert len(first.rows) == MAX_ACTION_ROWS
    assert first.rows[0] == (1, "arxiv:2406.12346")
    assert [e.footer.text for e in first.embeds[:2]] == [
        "#1 · matched: diffusion",
        "#2 · matched: diffusion",
    ]
    assert custom_id("like", "arxiv:2406.12346") == "paperbot:like:arxiv:2406.12346"


async def test_a_paper_whose_id_cannot_fit_a_custom_id_gets_buttons_by_its_short_reference() -> (
    None
):
    long_id = "url:https://blog.example.org/2026/06/" + "a-very-long-post-slug-" * 4
    page = Digest(channel=CHANNEL, items=(match_for(paper(1, id=long_id), "diffusion"),))
    message = digest_message(page)
    assert len(message.embeds) == 1 and message.rows == ((1, long_id),)
    view = digest_view(message.rows)
    assert view is not None
    ids = [item.custom_id for item in view.children]  # type: ignore[attr-defined]
    ref = button_ref(long_id)
    assert ids == [
        "paperbot:row:1",
        *(f"paperbot:{a}:{ref}" for a in ("like", "dislike", "save", "abstract")),
    ]
    assert all(len(i) <= 100 for i in ids)
    assert custom_id("like", long_id) == f"paperbot:like:{ref}"


async def test_posted_digest_messages_carry_the_buttons_discord_accepts(
    start: Start, standin: DiscordStandIn
) -> None:
    chat = await start()
    first, second = await post_digest(chat, standin)

    assert len(first["components"]) == 5 and len(second["components"]) == 2
    row = first["components"][0]["components"]
    assert [(b.get("label"), (b.get("emoji") or {}).get("name")) for b in row] == [
        ("#1", None),
        (None, "👍"),
        (None, "👎"),
        ("Save", "🔖"),
        ("Abstract", None),
    ]
    assert row[0]["disabled"] is True
    assert [b["custom_id"] for b in row[1:]] == [
        f"paperbot:{action}:arxiv:2406.12346" for action in ("like", "dislike", "save", "abstract")
    ]
    for message in (first, second):
        assert message_problems(message) == []


# --- presses --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["like", "dislike", "save", "abstract"])
async def test_a_press_runs_the_command_and_answers_the_presser_only(
    start: Start, standin: DiscordStandIn, handler: Handler, action: str
) -> None:
    chat = await start()
    first, _ = await post_digest(chat, standin)
    button = f"paperbot:{action}:arxiv:2406.12348"

    [callback] = await answers(standin, component_payload(button, first))

    assert handler.commands == [
        Command(CHANNEL, USER_ID, f"{action} arxiv:2406.12348", message=first["id"])
    ]
    assert callback.body["type"] == 4
    assert callback.body["data"]["flags"] == EPHEMERAL
    assert callback.body["data"]["content"] == f"ok: {action} arxiv:2406.12348"


async def test_a_long_ids_buttons_reach_discord_and_press_as_its_short_reference(
    start: Start, standin: DiscordStandIn, handler: Handler
) -> None:
    chat = await start()
    long_id = "url:https://blog.example.org/2026/06/" + "a-very-long-post-slug-" * 4
    page = Digest(channel=CHANNEL, items=(match_for(paper(1, id=long_id), "diffusion"),))
    await chat.post(CHANNEL, page, "delivery-long:1")
    [message] = standin.messages[CHANNEL_ID]
    assert message_problems(message) == []  # Discord's limits, custom_id's 100 included
    button = message["components"][0]["components"][1]["custom_id"]
    assert button == f"paperbot:like:{button_ref(long_id)}"

    await answers(standin, component_payload(button, message))

    assert handler.commands == [
        Command(CHANNEL, USER_ID, f"like {button_ref(long_id)}", message=message["id"])
    ]


async def test_buttons_work_after_a_restart_and_on_old_messages(
    start: Start, standin: DiscordStandIn, handler: Handler
) -> None:
    before = await start()
    first, _ = await post_digest(before, standin)
    await before.stop()

    await start()  # a new process: it never saw that message
    [callback] = await answers(standin, component_payload("paperbot:save:arxiv:2406.12346", first))

    assert [c.text for c in handler.commands] == ["save arxiv:2406.12346"]
    assert callback.body["data"]["flags"] == EPHEMERAL


async def test_a_press_on_a_pruned_paper_gets_a_clear_answer(
    start: Start, standin: DiscordStandIn, handler: Handler
) -> None:
    chat = await start()
    first, _ = await post_digest(chat, standin)
    gone = "paperbot:like:arxiv:2301.00001"
    old = dict(first)  # a digest from days ago, its paper pruned since
    old["components"] = [
        {
            "type": 1,
            "components": [{"type": 2, "style": 2, "emoji": {"name": "👍"}, "custom_id": gone}],
        }
    ]

    [callback] = await answers(standin, component_payload(gone, old))

    assert callback.body["data"]["flags"] == EPHEMERAL
    assert callback.body["data"]["content"] == (
        "No stored paper `arxiv:2301.00001`: it may have been pruned."
    )


async def test_a_channel_reply_to_a_press_stays_with_the_presser(
    start: Start, standin: DiscordStandIn, handler: Handler
) -> None:
    handler.reply = lambda c: Reply("Saved for the channel.", visibility=Visibility.CHANNEL)
    chat = await start()
    first, _ = await post_digest(chat, standin)

    [callback] = await answers(standin, component_payload("paperbot:save:arxiv:2406.12346", first))

    assert callback.body["data"]["flags"] == EPHEMERAL


async def test_a_slow_press_is_deferred_for_the_presser_then_answered(
    start: Start, standin: DiscordStandIn, handler: Handler
) -> None:
    handler.gate = asyncio.Event()
    chat = await start(defer_after=0.01)
    first, _ = await post_digest(chat, standin)
    payload = component_payload("paperbot:abstract:arxiv:2406.12346", first)

    [deferral] = await answers(standin, payload)
    assert deferral.body == {"type": 5, "data": {"flags": EPHEMERAL}}
    handler.gate.set()
    await standin.wait_for(lambda: len(standin.answers(payload)) == 2)
    followup = standin.answers(payload)[1]
    assert followup.body["content"] == "ok: abstract arxiv:2406.12346"
    assert followup.body["flags"] & EPHEMERAL


async def test_who_may_vote_is_decided_at_run_time_as_for_commands(
    start: Start,
    standin: DiscordStandIn,
    handler: Handler,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # PAPERBOT_VOTES_ADMINS_ONLY makes the core's needs_manage say votes need Manage Channels.
    monkeypatch.setattr(discord_chat, "needs_manage", lambda text: text.startswith("like "))
    chat = await start(admins_only=True)
    first, _ = await post_digest(chat, standin)
    like = "paperbot:like:arxiv:2406.12346"

    [refused] = await answers(
        standin, component_payload(like, first, permissions=MEMBER_PERMISSIONS)
    )
    [allowed] = await answers(standin, component_payload(like, first))

    assert [c.can_manage for c in handler.commands] == [False, True]
    assert refused.body["data"]["content"] == "Only members with Manage Channels may vote here."
    assert refused.body["data"]["flags"] == EPHEMERAL
    assert allowed.body["data"]["content"] == "ok: like arxiv:2406.12346"


# --- the new commands as /papers subcommands, and exports ----------------------------------------


async def test_votes_reset_is_a_nested_subcommand(
    start: Start, standin: DiscordStandIn, handler: Handler
) -> None:
    await start()
    payload = interaction_payload("list")
    payload["data"]["options"] = [
        {"type": 2, "name": "votes", "options": [{"type": 1, "name": "reset", "options": []}]}
    ]

    await answers(standin, payload)

    assert [c.text for c in handler.commands] == ["votes reset"]


async def test_an_export_comes_as_an_attachment_for_the_caller(
    start: Start, standin: DiscordStandIn, handler: Handler
) -> None:
    handler.reply = lambda c: Reply(
        "**1** saved paper as CSV.", attachment=Attachment("paperbot-saved.csv", CSV, "text/csv")
    )
    await start()

    [callback] = await answers(standin, interaction_payload("export", {"format": "csv"}))

    assert [c.text for c in handler.commands] == ["export csv"]
    assert callback.files == (("paperbot-saved.csv", CSV),)
    assert callback.body["data"]["content"] == "**1** saved paper as CSV."
    assert callback.body["data"]["flags"] == EPHEMERAL
    assert callback.body["data"]["attachments"][0]["filename"] == "paperbot-saved.csv"


async def test_a_slow_export_is_attached_to_the_follow_up(
    start: Start, standin: DiscordStandIn, handler: Handler
) -> None:
    handler.gate = asyncio.Event()
    handler.reply = lambda c: replace(
        Reply("Your export."), attachment=Attachment("saved.bib", b"@misc{x}\n", "text/x-bibtex")
    )
    await start(defer_after=0.01)
    payload = interaction_payload("export", {"format": "bibtex"})

    await answers(standin, payload)
    handler.gate.set()
    await standin.wait_for(lambda: len(standin.answers(payload)) == 2)
    followup = standin.answers(payload)[1]

    assert followup.files == (("saved.bib", b"@misc{x}\n"),)
    assert followup.body["flags"] & EPHEMERAL
