"""Posting digests through slack_sdk's real AsyncWebClient against the local Slack stand-in."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import pytest

from adapters.slack.chat import SlackChat
from adapters.slack.render import render_digest
from bot.ports import ChannelUnavailable, ChatAuthError, TransientChatError
from tests.slack_papers import CHANNEL, digest, match, paper
from tests.slack_standin import LOST_RESPONSE, SlackStandin


class Sleeps:
    """An injected sleep that records how long it was asked to wait, and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        yield standin


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_chat(slack: SlackStandin, sleeps: Sleeps, **options: object) -> SlackChat:
    return SlackChat(
        bot_token=slack.bot_token,
        signing_secret="unused-here",
        api_url=slack.api_url,
        sleep=sleeps,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def chat(slack: SlackStandin, sleeps: Sleeps) -> AsyncIterator[SlackChat]:
    adapter = make_chat(slack, sleeps)
    yield adapter
    await adapter.stop()


PAGE = digest([match(paper(1), "diffusion"), match(paper(2), "diffusion")], more=3)
C = CHANNEL.channel


async def test_post_lands_as_block_kit_with_the_delivery_id(
    chat: SlackChat, slack: SlackStandin
) -> None:
    ts = await chat.post(CHANNEL, PAGE, "delivery-41")

    [message] = slack.posted(C)
    assert message["ts"] == ts
    assert message["metadata"] == {
        "event_type": "paperbot_delivery",
        "event_payload": {"delivery_id": "delivery-41"},
    }
    expected = render_digest(PAGE)
    assert message["blocks"] == list(expected.blocks)
    assert message["text"] == expected.text
    assert message["unfurl_links"] is False and message["unfurl_media"] is False


async def test_rate_limit_is_waited_out_and_the_post_lands_once(
    chat: SlackChat, slack: SlackStandin, sleeps: Sleeps
) -> None:
    slack.rate_limit("chat.postMessage", retry_after=1)

    ts = await chat.post(CHANNEL, PAGE, "delivery-1")

    assert sleeps.waits == [1.0]
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert [m["ts"] for m in slack.posted(C)] == [ts]


async def test_still_rate_limited_raises_transient_with_retry_after(
    chat: SlackChat, slack: SlackStandin, sleeps: Sleeps
) -> None:
    slack.rate_limit("chat.postMessage", retry_after=1, times=None)

    with pytest.raises(TransientChatError) as caught:
        await chat.post(CHANNEL, PAGE, "delivery-1")

    assert caught.value.retry_after == 1.0 and not caught.value.uncertain
    assert sleeps.waits == [1.0, 1.0]
    assert slack.posted(C) == []


async def test_a_long_retry_after_is_handed_to_the_pipeline_not_slept(
    chat: SlackChat, slack: SlackStandin, sleeps: Sleeps
) -> None:
    slack.rate_limit("chat.postMessage", retry_after=120)

    with pytest.raises(TransientChatError) as caught:
        await chat.post(CHANNEL, PAGE, "delivery-1")

    assert caught.value.retry_after == 120.0
    assert sleeps.waits == []


@pytest.mark.parametrize(
    "error", ["is_archived", "channel_not_found", "not_in_channel", "account_inactive"]
)
async def test_a_channel_the_bot_cannot_post_to_is_unavailable(
    chat: SlackChat, slack: SlackStandin, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail("chat.postMessage", error)

    with pytest.raises(ChannelUnavailable, match=error):
        await chat.post(CHANNEL, PAGE, "delivery-1")

    assert slack.posted(C) == []
    assert f"{CHANNEL} is unavailable ({error})" in caplog.text


async def test_a_rejected_token_stops_slack_posting_with_one_log_line(
    chat: SlackChat, slack: SlackStandin, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail("chat.postMessage", "invalid_auth")

    with pytest.raises(ChatAuthError):
        await chat.post(CHANNEL, PAGE, "delivery-1")
    calls = len(slack.calls)
    with pytest.raises(ChatAuthError):
        await chat.post(CHANNEL, PAGE, "delivery-2")
    with pytest.raises(ChatAuthError):
        await chat.find_delivery(CHANNEL, "delivery-1")

    assert len(slack.calls) == calls  # later attempts never reach Slack
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "SLACK_BOT_TOKEN" in errors[0].getMessage()


async def test_a_revoked_token_is_an_auth_error(chat: SlackChat, slack: SlackStandin) -> None:
    slack.revoked = True
    with pytest.raises(ChatAuthError, match="token_revoked"):
        await chat.post(CHANNEL, PAGE, "delivery-1")


async def test_server_errors_are_transient(
    chat: SlackChat, slack: SlackStandin, sleeps: Sleeps
) -> None:
    slack.fail("chat.postMessage", "internal_error", status=500)

    with pytest.raises(TransientChatError, match="internal_error") as caught:
        await chat.post(CHANNEL, PAGE, "delivery-1")

    # A 500 may have posted: it is not repeated blindly; the pipeline reconciles first.
    assert caught.value.uncertain
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_a_lost_answer_is_uncertain_and_reconciled_by_delivery_id(
    chat: SlackChat, slack: SlackStandin
) -> None:
    slack.fail("chat.postMessage", LOST_RESPONSE)

    with pytest.raises(TransientChatError) as caught:
        await chat.post(CHANNEL, PAGE, "delivery-7")

    assert caught.value.uncertain
    [message] = slack.posted(C)  # Slack posted it once; we did not post it again
    assert await chat.find_delivery(CHANNEL, "delivery-7") == message["ts"]


async def test_an_unreachable_slack_is_retried_once_then_transient(sleeps: Sleeps) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    chat = SlackChat(
        bot_token="xoxb-x",
        signing_secret="s",
        api_url=f"http://127.0.0.1:{closed_port}/api/",
        sleep=sleeps,
    )

    with pytest.raises(TransientChatError, match="cannot reach Slack") as caught:
        await chat.post(CHANNEL, PAGE, "delivery-1")
    await chat.stop()

    assert not caught.value.uncertain  # nothing was sent
    assert sleeps.waits == [0.5]


async def test_find_delivery_finds_a_posted_delivery_by_its_metadata(
    chat: SlackChat, slack: SlackStandin
) -> None:
    await chat.post(CHANNEL, PAGE, "delivery-1")
    wanted = await chat.post(CHANNEL, PAGE, "delivery-2")
    await chat.post(CHANNEL, PAGE, "delivery-3")

    assert await chat.find_delivery(CHANNEL, "delivery-2") == wanted
    assert await chat.find_delivery(CHANNEL, "delivery-9") is None
    [call, *_] = slack.calls_to("conversations.history")
    assert call.args["include_all_metadata"] in ("1", "true")


async def test_find_delivery_pages_through_recent_history_but_not_forever(
    slack: SlackStandin, sleeps: Sleeps
) -> None:
    chat = make_chat(slack, sleeps)
    wanted = await chat.post(CHANNEL, PAGE, "delivery-old")
    small = digest([match(paper(3))])
    for i in range(250):  # newer chatter pushes it onto the second page of history
        await chat.post(CHANNEL, small, f"noise-{i}")

    assert await chat.find_delivery(CHANNEL, "delivery-old") == wanted
    assert len(slack.calls_to("conversations.history")) == 2

    one_page = make_chat(slack, sleeps, history_pages=1)
    assert await one_page.find_delivery(CHANNEL, "delivery-old") is None
    await chat.stop()
    await one_page.stop()


async def test_find_delivery_without_history_scope_is_none_and_logged_once(
    chat: SlackChat, slack: SlackStandin, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail("conversations.history", "missing_scope", times=None)

    assert await chat.find_delivery(CHANNEL, "delivery-1") is None
    assert await chat.find_delivery(CHANNEL, "delivery-2") is None

    warnings = [r for r in caplog.records if "channels:history" in r.getMessage()]
    assert len(warnings) == 1


async def test_find_delivery_in_a_deleted_channel_is_unavailable(
    chat: SlackChat, slack: SlackStandin
) -> None:
    slack.fail("conversations.history", "channel_not_found")
    with pytest.raises(ChannelUnavailable):
        await chat.find_delivery(CHANNEL, "delivery-1")


async def test_threads_put_each_full_abstract_under_the_digest(
    chat: SlackChat, slack: SlackStandin
) -> None:
    ts = await chat.post(CHANNEL, PAGE, "delivery-1", threads=True)

    replies = slack.thread_replies[(C, ts)]
    assert len(replies) == 2
    assert all("trains on 10M clips" in r["blocks"][0]["text"]["text"] for r in replies)
    assert len(slack.posted(C)) == 1  # replies stay in the thread


async def test_a_failed_thread_reply_does_not_fail_the_delivery(
    chat: SlackChat, slack: SlackStandin
) -> None:
    slack.fail("chat.postMessage", "internal_error", status=500, skip=1)  # the first reply

    ts = await chat.post(CHANNEL, PAGE, "delivery-1", threads=True)

    assert [m["ts"] for m in slack.posted(C)] == [ts]
    assert len(slack.thread_replies[(C, ts)]) == 1  # the other paper's abstract still came


async def test_every_page_of_a_big_digest_is_accepted_by_slack(
    chat: SlackChat, slack: SlackStandin
) -> None:
    long_abstract = "A diffusion sentence that goes on and on. " * 80
    big = digest([match(paper(i, abstract=long_abstract), "diffusion") for i in range(60)], more=5)

    pages = chat.paginate(big)
    for n, page in enumerate(pages):
        await chat.post(CHANNEL, page, f"delivery-{n}")

    posted = slack.posted(C)
    assert len(posted) == len(pages) >= 2
    assert sum(len(p.items) for p in pages) == 60


async def test_requests_are_formatted_for_the_log_only_when_debug_is_on(
    chat: SlackChat, slack: SlackStandin, caplog: pytest.LogCaptureFixture
) -> None:
    # slack_sdk formats each request and response (the whole message) for a debug line when
    # its logger's `level` is DEBUG or below: a logger that inherits INFO must say INFO.
    client_logger = chat._client._logger  # the logger slack_sdk checks before formatting
    with caplog.at_level(logging.INFO, logger="adapters.slack"):
        assert client_logger.level == logging.INFO
        await chat.post(CHANNEL, PAGE, "delivery-quiet")
    assert not [r for r in caplog.records if "Sending a request" in r.getMessage()]
    with caplog.at_level(logging.DEBUG, logger="adapters.slack"):
        assert client_logger.level == logging.DEBUG
        await chat.post(CHANNEL, PAGE, "delivery-loud")
    sent = [r.getMessage() for r in caplog.records if "Sending a request" in r.getMessage()]
    assert len(sent) == 1 and "delivery-loud" in sent[0]
