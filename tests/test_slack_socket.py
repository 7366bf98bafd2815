"""Socket Mode: Bolt's AsyncSocketModeHandler connected to the stand-in's WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.slack.chat import SlackChat
from bot.models import ChannelRef, Command, Reply
from bot.ports import ChatAuthError
from tests.slack_standin import SlackStandin


class Commands:
    def __init__(self) -> None:
        self.received: list[Command] = []

    async def __call__(self, command: Command) -> Reply:
        self.received.append(command)
        return Reply(f"You said `{command.text}`")


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        yield standin


async def test_a_slash_command_over_socket_mode_is_acked_and_answered(slack: SlackStandin) -> None:
    commands = Commands()
    chat = SlackChat(bot_token=slack.bot_token, app_token=slack.app_token, api_url=slack.api_url)
    assert chat.mode == "socket"
    await chat.start(commands)
    try:
        ack = await slack.send_slash_command(
            {
                "token": "xyzz0WbapA4vBCDEFasx0q6G",
                "team_id": "T0STANDIN",
                "channel_id": "C0PAPERS",
                "user_id": "U0ALICE",
                "command": "/papers",
                "text": "search &lt;!channel&gt; R&amp;D upvotes:&gt;=10",  # as Slack escapes it
                "response_url": slack.response_url("s1"),
                "trigger_id": "1.2.3",
            }
        )
        answer = await slack.next_response()
    finally:
        await chat.stop()

    assert set(ack) == {"envelope_id"}  # an empty ack: nothing shown until the answer
    assert commands.received == [
        Command(
            ChannelRef("slack", "T0STANDIN", "C0PAPERS"),
            "U0ALICE",
            "search <!channel> R&D upvotes:>=10",
        )
    ]
    assert answer["response_type"] == "ephemeral"
    assert answer["blocks"][0]["text"]["text"] == (
        "You said `search &lt;!channel&gt; R&amp;D upvotes:&gt;=10`"
    )
    assert chat.address is None  # no HTTP server in Socket Mode
    assert len(slack.calls_to("apps.connections.open")) == 1


async def test_a_rejected_app_token_fails_start_instead_of_retrying_forever(
    slack: SlackStandin, caplog: pytest.LogCaptureFixture
) -> None:
    chat = SlackChat(bot_token=slack.bot_token, app_token="xapp-wrong", api_url=slack.api_url)
    with pytest.raises(ChatAuthError, match="SLACK_APP_TOKEN"):
        await chat.start(Commands())
    await chat.stop()
    assert "SLACK_APP_TOKEN" in caplog.text and "SLACK_BOT_TOKEN" not in caplog.text


def test_the_manifest_installs_what_the_adapter_uses() -> None:
    manifest = (Path(__file__).parent.parent / "config" / "slack-manifest.yml").read_text()
    assert "- command: /papers" in manifest
    for scope in ("commands", "chat:write", "users:read", "channels:history", "groups:history"):
        assert f"      - {scope} " in manifest
    assert "socket_mode_enabled: true" in manifest
