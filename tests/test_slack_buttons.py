"""Digest buttons in Slack: 👍 👎 🔖 Abstract under every paper, pressed through Bolt's own
dispatch (HTTP with Slack's signature, and Socket Mode), answered to the presser alone; and a
reply's file uploaded with files_upload_v2 to the local Slack stand-in."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.signature import Clock

import adapters.slack.chat as slack_chat
from adapters.slack.chat import SlackChat
from adapters.slack.render import fits, paper_actions, render_digest
from bot.models import Attachment, ChannelRef, Command, Reply, Visibility
from tests.slack_papers import digest, match, paper
from tests.slack_standin import (
    SlackStandin,
    block_actions_payload,
    interactive_body,
    signed_headers,
    slash_command_body,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_767_225_600
CH = ChannelRef("slack", "T0STANDIN", "C0PAPERS")
BIBTEX = (
    b"@misc{lovelace2026fast,\n  title = {Fast Diffusion Models},\n  eprint = {2406.12346},\n}\n"
)


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


class Commands:
    """The shared command handler, faked: records Commands; answers unknown papers as the real
    handler does (an error, nothing changed), and `reply` otherwise."""

    def __init__(self) -> None:
        self.received: list[Command] = []
        self.known = {"arxiv:2406.12346"}
        self.reply: Callable[[Command], Reply] = lambda c: Reply(f"**Done**: `{c.text}`")
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, command: Command) -> Reply:
        self.received.append(command)
        await self.gate.wait()
        words = command.text.split()
        if words[0] in ("like", "dislike", "save", "abstract") and words[-1] not in self.known:
            return Reply(f"No stored paper `{words[-1]}`: it may have been pruned.", error=True)
        if not command.can_manage:
            return Reply("Only workspace admins may vote here.", error=True)
        return self.reply(command)


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        standin.add_user("U0ALICE")
        standin.add_user("U0BOSS", is_admin=True)
        yield standin


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest.fixture
async def start(slack: SlackStandin, commands: Commands) -> AsyncIterator[Callable[..., Any]]:
    started: list[SlackChat] = []

    async def _start(**options: Any) -> SlackChat:
        values: dict[str, Any] = {
            "bot_token": slack.bot_token,
            "signing_secret": SECRET,
            "api_url": slack.api_url,
            "host": "127.0.0.1",
            "port": 0,
            "signature_clock": FixedClock(NOW),
        }
        values.update(options)
        chat = SlackChat(**values)
        await chat.start(commands)
        started.append(chat)
        return chat

    yield _start
    for chat in started:
        await chat.stop()


async def post(
    chat: SlackChat, body: str, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    assert chat.address is not None
    host, port = chat.address
    headers = headers if headers is not None else signed_headers(SECRET, NOW, body)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://{host}:{port}/slack/events", data=body.encode(), headers=headers
        ) as resp,
    ):
        return resp.status, await resp.text()


def press(slack: SlackStandin, action_id: str, value: str, **fields: Any) -> dict[str, Any]:
    return block_actions_payload(
        action_id=action_id, value=value, response_url=slack.response_url("press"), **fields
    )


# --- rendering ------------------------------------------------------------------------------


def test_every_paper_of_a_digest_carries_its_four_buttons() -> None:
    one = paper()
    message = render_digest(digest([match(one, "diffusion"), match(paper(2), "video")]))

    kinds = [b["type"] for b in message.blocks]
    assert kinds == ["header", "section", "actions", "section", "actions"]
    assert message.blocks[2] == {
        "type": "actions",
        "block_id": paper_actions(one)["block_id"],  # type: ignore[index]
        "elements": [
            {
                "type": "button",
                "action_id": action_id,
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "value": "arxiv:2406.12346",
            }
            for action_id, label in (
                ("paper_like", "👍"),
                ("paper_dislike", "👎"),
                ("paper_save", "🔖 Save"),
                ("paper_abstract", "Abstract"),
            )
        ],
    }
    assert message.blocks[2]["block_id"] != message.blocks[4]["block_id"]
    assert message.blocks[4]["elements"][0]["value"] == "arxiv:2406.12347"


def test_a_paper_whose_id_cannot_fit_a_button_is_shown_without_buttons() -> None:
    huge = replace(paper(), id="url:https://example.org/" + "x" * 2_000)
    message = render_digest(digest([match(huge, "diffusion")]))
    assert [b["type"] for b in message.blocks] == ["header", "section"]


async def test_a_big_digest_is_split_so_every_page_fits_with_its_buttons(
    slack: SlackStandin,
) -> None:
    papers = [match(paper(i), "diffusion") for i in range(50)]
    chat = SlackChat(bot_token=slack.bot_token, signing_secret=SECRET, api_url=slack.api_url)

    pages = chat.paginate(digest(papers, more=4))

    assert [len(p.items) for p in pages] == [24, 24, 2]
    for page in pages:
        message = render_digest(page)
        assert fits(message) and len(message.blocks) <= 50
        assert sum(b["type"] == "actions" for b in message.blocks) == len(page.items)
        await chat.post(CH, page, f"delivery-1:{page.page}")
    await chat.stop()
    posted = slack.posted("C0PAPERS")  # the stand-in checks Slack's block rules
    assert [sum(b["type"] == "actions" for b in m["blocks"]) for m in posted] == [24, 24, 2]


# --- presses over HTTP ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action_id", "text"),
    [
        ("paper_like", "like arxiv:2406.12346"),
        ("paper_dislike", "dislike arxiv:2406.12346"),
        ("paper_save", "save arxiv:2406.12346"),
        ("paper_abstract", "abstract arxiv:2406.12346"),
    ],
)
async def test_a_press_is_acked_at_once_then_answered_to_the_presser_only(
    start: Callable[..., Any],
    slack: SlackStandin,
    commands: Commands,
    action_id: str,
    text: str,
) -> None:
    chat = await start()
    commands.gate.clear()  # the core is busy: the ack must not wait for it
    body = interactive_body(press(slack, action_id, "arxiv:2406.12346"))

    began = time.monotonic()
    status, answer = await asyncio.wait_for(post(chat, body), timeout=3)
    assert status == 200 and answer == "" and time.monotonic() - began < 3
    assert slack.responses == []

    commands.gate.set()
    response = await slack.next_response()
    assert commands.received == [
        Command(CH, "U0ALICE", text, can_manage=True, message="1767225601.000100")
    ]
    assert response["_key"] == "press"
    assert response["response_type"] == "ephemeral"
    assert response["replace_original"] is False  # the digest stays as it is
    assert response["blocks"][0]["text"]["text"] == f"*Done*: `{text}`"


async def test_a_channel_reply_to_a_press_still_goes_to_the_presser_only(
    start: Callable[..., Any], slack: SlackStandin, commands: Commands
) -> None:
    commands.reply = lambda c: Reply("Saved.", visibility=Visibility.CHANNEL)
    chat = await start()
    await post(chat, interactive_body(press(slack, "paper_save", "arxiv:2406.12346")))
    assert (await slack.next_response())["response_type"] == "ephemeral"


async def test_a_press_on_an_old_digest_whose_paper_is_gone_gets_a_clear_answer(
    start: Callable[..., Any], slack: SlackStandin, commands: Commands
) -> None:
    chat = await start()
    old = press(slack, "paper_like", "arxiv:2301.00001", message_ts="1700000000.000200")

    status, _ = await post(chat, interactive_body(old))
    response = await slack.next_response()

    assert status == 200
    assert commands.received[0].message == "1700000000.000200"
    assert response["response_type"] == "ephemeral"
    assert response["blocks"][0]["text"]["text"] == (
        ":warning: No stored paper `arxiv:2301.00001`: it may have been pruned."
    )


@pytest.mark.parametrize(
    ("case", "make_headers"),
    [
        ("bad signature", lambda body: signed_headers("not-the-secret", NOW, body)),
        ("stale timestamp", lambda body: signed_headers(SECRET, NOW - 301, body)),
        ("no signature", lambda body: {"Content-Type": "application/x-www-form-urlencoded"}),
    ],
)
async def test_a_forged_or_stale_press_is_refused_and_changes_nothing(
    start: Callable[..., Any],
    slack: SlackStandin,
    commands: Commands,
    case: str,
    make_headers: Callable[[str], dict[str, str]],
) -> None:
    chat = await start()
    body = interactive_body(press(slack, "paper_like", "arxiv:2406.12346"))
    calls = len(slack.calls)

    status, _ = await post(chat, body, headers=make_headers(body))
    await asyncio.sleep(0)

    assert status == 401, case
    assert commands.received == [] and slack.responses == [] and len(slack.calls) == calls


async def test_who_may_vote_is_decided_as_for_the_typed_command(
    start: Callable[..., Any],
    slack: SlackStandin,
    commands: Commands,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With PAPERBOT_VOTES_ADMINS_ONLY the core's needs_manage says a vote needs the right to
    # manage; the adapter asks it about the pressed command's text, as for a typed one.
    monkeypatch.setattr(slack_chat, "needs_manage", lambda text: text.startswith("like "))
    chat = await start(admins_only=True)

    await post(chat, interactive_body(press(slack, "paper_like", "arxiv:2406.12346")))
    refused = await slack.next_response()
    boss = press(slack, "paper_like", "arxiv:2406.12346", user_id="U0BOSS")
    await post(chat, interactive_body(boss))
    allowed = await slack.next_response()
    await post(chat, interactive_body(press(slack, "paper_save", "arxiv:2406.12346")))
    saved = await slack.next_response()

    assert [(c.user, c.text.split()[0], c.can_manage) for c in commands.received] == [
        ("U0ALICE", "like", False),
        ("U0BOSS", "like", True),
        ("U0ALICE", "save", True),
    ]
    assert refused["response_type"] == "ephemeral"
    assert refused["text"] == "Only workspace admins may vote here."
    assert allowed["text"].startswith("Done") and saved["text"].startswith("Done")


# --- presses over Socket Mode -------------------------------------------------------------------


async def test_a_press_over_socket_mode_is_acked_and_answered_ephemerally(
    slack: SlackStandin, commands: Commands
) -> None:
    chat = SlackChat(bot_token=slack.bot_token, app_token=slack.app_token, api_url=slack.api_url)
    await chat.start(commands)
    try:
        ack = await slack.send_interactive(press(slack, "paper_dislike", "arxiv:2406.12346"))
        response = await slack.next_response()
    finally:
        await chat.stop()

    assert set(ack) == {"envelope_id"}
    assert commands.received == [
        Command(CH, "U0ALICE", "dislike arxiv:2406.12346", message="1767225601.000100")
    ]
    assert response["response_type"] == "ephemeral" and response["replace_original"] is False


# --- exports: a reply's file, uploaded ----------------------------------------------------------


def export_reply(command: Command) -> Reply:
    return Reply(
        "**2** saved papers as BibTeX.",
        attachment=Attachment("paperbot-saved.bib", BIBTEX, "application/x-bibtex"),
    )


async def test_an_export_is_uploaded_to_the_channel_with_files_upload_v2(
    start: Callable[..., Any], slack: SlackStandin, commands: Commands
) -> None:
    commands.reply = export_reply
    chat = await start()

    await post(chat, slash_command_body(text="export bibtex", response_url=slack.response_url()))
    response = await slack.next_response()

    [shared] = slack.files["C0PAPERS"]
    assert shared["name"] == "paperbot-saved.bib" and shared["content"] == BIBTEX
    assert [c.method for c in slack.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    complete = slack.calls_to("files.completeUploadExternal")[0].args
    assert complete["channel_id"] == "C0PAPERS"
    assert json.loads(complete["files"])[0]["title"] == "paperbot-saved.bib"
    assert response["response_type"] == "ephemeral"
    assert response["text"] == "2 saved papers as BibTeX."


async def test_an_export_to_a_channel_the_bot_is_not_in_says_what_to_do(
    start: Callable[..., Any], slack: SlackStandin, commands: Commands
) -> None:
    commands.reply = export_reply
    slack.members = {"C0OTHER"}
    chat = await start()

    await post(chat, slash_command_body(text="export bibtex", response_url=slack.response_url()))
    response = await slack.next_response()

    assert "C0PAPERS" not in slack.files
    text = response["blocks"][0]["text"]["text"]
    assert text.startswith(":warning: *2* saved papers as BibTeX.")
    assert "Could not upload `paperbot-saved.bib` here: invite me to this channel" in text


def test_the_manifest_enables_buttons_and_uploads() -> None:
    manifest = (Path(__file__).parent.parent / "config" / "slack-manifest.yml").read_text()
    assert "      - files:write " in manifest
    assert "  interactivity:" in manifest and "    is_enabled: true" in manifest
    assert "# request_url: https://paperbot.example.org/slack/events" in manifest


async def test_a_press_in_ones_own_dm_is_managed_by_that_person(
    slack: SlackStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slack_chat, "needs_manage", lambda text: True)
    chat = SlackChat(
        bot_token=slack.bot_token, signing_secret=SECRET, api_url=slack.api_url, admins_only=True
    )
    payload = press(slack, "paper_like", "arxiv:2406.12346", channel_id="D0ALICE")
    command = await chat.action_command(payload, payload["actions"][0])
    channel = await chat.action_command(
        press(slack, "paper_like", "x"), {"action_id": "paper_like", "value": "x"}
    )
    await chat.stop()
    assert command.channel == ChannelRef("slack", "T0STANDIN", "D0ALICE") and command.can_manage
    assert channel.can_manage is False
