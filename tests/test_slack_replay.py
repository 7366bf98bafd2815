"""Issue 20, case 7: a replayed signed Slack request, or Slack's retry of one already answered,
is acknowledged without running the command again, by any replica sharing the database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from adapters.slack.chat import SlackChat
from bot.stores import Stores
from tests import test_slack_http as _http
from tests.slack_standin import SlackStandin, signed_headers, slash_command_body
from tests.test_slack_http import NOW, SECRET, Commands, send

# The Slack HTTP tests' fixtures: a Slack stand-in, a recording core, and SlackChats started on it.
slack = _http.slack
commands = _http.commands
start = _http.start


async def _post(chat: SlackChat, body: str, headers: dict[str, str]) -> tuple[int, str]:
    return await send(chat, body, headers=headers)


async def test_an_exact_replay_is_answered_and_not_run_again_on_any_replica(
    start: Callable[..., object], slack: SlackStandin, commands: Commands, stores: Stores
) -> None:
    one = await start(seen=stores.seen)
    two = await start(seen=stores.seen)  # another replica on the same database
    body = slash_command_body(text="unsubscribe all", response_url=slack.response_url("r1"))
    headers = signed_headers(SECRET, NOW, body)

    assert await _post(one, body, headers) == (200, "")
    await slack.next_response()
    for replica in (one, two):
        status, text = await _post(replica, body, headers)
        assert status == 200 and "already received and handled; it was not run again" in text
    await asyncio.sleep(0.05)  # anything (wrongly) started would have run by now
    assert [c.text for c in commands.received] == ["unsubscribe all"]
    assert len(slack.responses) == 1


async def test_slacks_retry_of_an_answered_request_is_acknowledged_only(
    start: Callable[..., object], slack: SlackStandin, commands: Commands, stores: Stores
) -> None:
    chat = await start(seen=stores.seen)
    body = slash_command_body(text="digest", response_url=slack.response_url("r1"))
    await _post(chat, body, signed_headers(SECRET, NOW, body))
    await slack.next_response()

    retry = {
        **signed_headers(SECRET, NOW + 60, body),  # a fresh signature, as Slack signs a retry
        "X-Slack-Retry-Num": "1",
        "X-Slack-Retry-Reason": "http_timeout",
    }
    assert await _post(chat, body, retry) == (200, "")
    await asyncio.sleep(0.05)
    assert [c.text for c in commands.received] == ["digest"]

    # A retry of a request that never arrived is the first time: it runs.
    other = slash_command_body(text="list", response_url=slack.response_url("r2"))
    retry = {**signed_headers(SECRET, NOW, other), "X-Slack-Retry-Num": "2"}
    assert await _post(chat, other, retry) == (200, "")
    await slack.next_response()
    assert [c.text for c in commands.received] == ["digest", "list"]


async def test_without_the_store_a_replay_runs_as_before(
    start: Callable[..., object], slack: SlackStandin, commands: Commands
) -> None:
    chat = await start()
    body = slash_command_body(text="list", response_url=slack.response_url())
    headers = signed_headers(SECRET, NOW, body)
    for _ in range(2):
        await _post(chat, body, headers)
        await slack.next_response()
    assert len(commands.received) == 2


async def test_a_replay_check_that_cannot_reach_the_database_refuses(
    start: Callable[..., object], slack: SlackStandin, commands: Commands
) -> None:
    class Down:
        async def first_time(self, key, until, now):  # type: ignore[no-untyped-def]
            raise ConnectionError("database gone")

    chat = await start(seen=Down())
    body = slash_command_body(text="list", response_url=slack.response_url())
    status, _ = await _post(chat, body, signed_headers(SECRET, NOW, body))
    assert status == 503 and commands.received == []


async def test_a_payload_with_unreadable_text_reaches_the_core_cleaned(
    slack: SlackStandin,
) -> None:
    chat = SlackChat(bot_token=slack.bot_token, signing_secret=SECRET, api_url=slack.api_url)
    command = await chat.to_command(
        {"team_id": "T1", "channel_id": "C1", "user_id": "U1", "text": "subscribe a\udcff\x00"}
    )
    assert command.text == "subscribe a\ufffd\ufffd"
