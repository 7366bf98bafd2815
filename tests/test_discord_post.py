"""Posting digests through discord.py's own HTTP client to a local stand-in of Discord's API."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.chat import BOT_PERMISSIONS, DiscordChat, delivery_nonce, invite_url
from bot.models import ChannelRef, Digest
from bot.ports import ChannelUnavailable, ChatAuthError, MessageRejected, TransientChatError
from config.settings import Settings
from tests.discord_standin import (
    APP_ID,
    CHANNEL_ID,
    GUILD_ID,
    MISSING_ACCESS,
    TOKEN,
    UNKNOWN_CHANNEL,
    DiscordStandIn,
)
from tests.test_discord_render import match_for, paper

CHANNEL = ChannelRef("discord", GUILD_ID, CHANNEL_ID)
MESSAGES = rf"/channels/{CHANNEL_ID}/messages"


@pytest.fixture
async def standin(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordStandIn]:
    # The adapter sets discord.py's process-global URLs; put them back after each test.
    monkeypatch.setattr(Route, "BASE", Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
    async with DiscordStandIn() as server:
        yield server


@pytest.fixture
async def chat(standin: DiscordStandIn) -> AsyncIterator[DiscordChat]:
    adapter = DiscordChat(TOKEN, standin.api_url, int(GUILD_ID))
    yield adapter
    await adapter.stop()


def one_page(title: str = "Video Diffusion Models") -> Digest:
    return Digest(channel=CHANNEL, items=(match_for(paper(title=title), "diffusion"),), more=3)


async def test_a_page_is_posted_as_embeds_with_the_delivery_nonce_and_no_mentions(
    standin: DiscordStandIn, chat: DiscordChat
) -> None:
    page = one_page("@everyone Diffusion <@&987654321098765432>")

    message_id = await chat.post(CHANNEL, page, "delivery-41")

    [posted] = standin.messages[CHANNEL_ID]
    assert message_id == posted["id"]
    [request] = standin.calls("POST", MESSAGES)
    assert request.body["nonce"] == delivery_nonce("delivery-41")
    assert len(request.body["nonce"]) <= 25
    assert request.body["enforce_nonce"] is True
    assert request.body["allowed_mentions"] == {"parse": []}
    assert posted["mention_everyone"] is False and posted["mention_roles"] == []
    assert posted["content"] == "📚 **New papers**\nand 3 more — find them with `/papers search`"
    [embed] = posted["embeds"]
    assert embed["title"] == "@\u200beveryone **Diffusion** <@\u200b&987654321098765432>"
    assert embed["url"] == "https://arxiv.org/abs/2406.12346"


async def test_posting_needs_only_an_http_login_not_the_gateway(
    standin: DiscordStandIn, chat: DiscordChat
) -> None:
    await chat.post(CHANNEL, one_page(), "d1")
    await chat.post(CHANNEL, one_page(), "d2")

    assert [r.path for r in standin.requests] == ["/users/@me", MESSAGES, MESSAGES]
    assert standin.requests[0].headers["Authorization"] == f"Bot {TOKEN}"
    assert standin.gateway_events == []


async def test_a_retried_delivery_does_not_post_twice(
    standin: DiscordStandIn, chat: DiscordChat
) -> None:
    first = await chat.post(CHANNEL, one_page(), "delivery-7")
    again = await chat.post(CHANNEL, one_page(), "delivery-7")
    other = await chat.post(CHANNEL, one_page(), "delivery-8")

    assert again == first != other
    assert len(standin.messages[CHANNEL_ID]) == 2
    assert len(standin.calls("POST", MESSAGES)) == 3


async def test_a_short_rate_limit_is_waited_out_and_the_page_posted_once(
    standin: DiscordStandIn, chat: DiscordChat
) -> None:
    standin.rate_limit("POST", MESSAGES, retry_after=0.05)

    started = time.monotonic()
    message_id = await chat.post(CHANNEL, one_page(), "delivery-9")

    assert time.monotonic() - started >= 0.05
    assert len(standin.calls("POST", MESSAGES)) == 2
    assert [m["id"] for m in standin.messages[CHANNEL_ID]] == [message_id]


async def test_a_long_rate_limit_is_reported_with_its_retry_after_instead_of_blocking(
    standin: DiscordStandIn, chat: DiscordChat
) -> None:
    standin.rate_limit("POST", MESSAGES, retry_after=64.57)  # the documented sample's value

    started = time.monotonic()
    with pytest.raises(TransientChatError) as caught:
        await chat.post(CHANNEL, one_page(), "delivery-10")

    assert caught.value.retry_after == pytest.approx(64.57)
    assert time.monotonic() - started < 5
    assert CHANNEL_ID not in standin.messages


@pytest.mark.parametrize(
    ("status", "body"), [(403, MISSING_ACCESS), (404, UNKNOWN_CHANNEL)], ids=["403", "404"]
)
async def test_a_channel_the_bot_cannot_post_to_is_unavailable(
    standin: DiscordStandIn,
    chat: DiscordChat,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: dict[str, object],
) -> None:
    standin.fail("POST", MESSAGES, status, body)

    with caplog.at_level(logging.WARNING), pytest.raises(ChannelUnavailable):
        await chat.post(CHANNEL, one_page(), "delivery-11")

    [line] = [r.getMessage() for r in caplog.records if r.name == "adapters.discord.chat"]
    assert str(CHANNEL) in line and str(status) in line and str(body["message"]) in line


async def test_a_message_discord_refuses_is_rejected_and_can_go_as_plain_text(
    standin: DiscordStandIn, chat: DiscordChat
) -> None:
    invalid = {"code": 50035, "message": "Invalid Form Body", "errors": {"embeds": {}}}
    standin.fail("POST", MESSAGES, 400, invalid)
    page = one_page("@everyone Diffusion <@&987654321098765432>")

    with pytest.raises(MessageRejected, match="50035"):
        await chat.post(CHANNEL, page, "delivery-7")
    assert standin.messages.get(CHANNEL_ID, []) == []

    await chat.post(CHANNEL, page, "delivery-7", plain=True)
    [posted] = standin.messages[CHANNEL_ID]
    assert posted["embeds"] == []
    assert posted["content"] == (
        "📚 **New papers**\n"
        "• @\u200beveryone Diffusion <@\u200b&987654321098765432> — "
        "<https://arxiv.org/abs/2406.12346>\n"
        "and 3 more — find them with `/papers search`"
    )
    [_, request] = standin.calls("POST", MESSAGES)
    assert request.body["nonce"] == delivery_nonce("delivery-7")


async def test_a_server_error_is_transient(standin: DiscordStandIn, chat: DiscordChat) -> None:
    standin.fail("POST", MESSAGES, 503, {"message": "upstream unavailable", "code": 0})

    with pytest.raises(TransientChatError):
        await chat.post(CHANNEL, one_page(), "delivery-12")


async def test_after_discord_pys_own_retries_a_500_is_transient(
    standin: DiscordStandIn, chat: DiscordChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_sleep = asyncio.sleep
    waits: list[float] = []

    async def no_wait(delay: float, result: object = None) -> object:
        if delay:
            waits.append(delay)
        return await real_sleep(0, result)

    # discord.py backs off 1, 3, 5, 7, 9 s between its tries: recorded, not waited.
    monkeypatch.setattr(asyncio, "sleep", no_wait)
    standin.fail(
        "POST", MESSAGES, 500, {"message": "500: Internal Server Error", "code": 0}, times=5
    )

    with pytest.raises(TransientChatError):
        await chat.post(CHANNEL, one_page(), "delivery-12b")

    assert len(standin.calls("POST", MESSAGES)) == 5
    assert waits == [1, 3, 5, 7, 9]
    assert CHANNEL_ID not in standin.messages


async def test_a_rejected_token_is_an_auth_error(standin: DiscordStandIn) -> None:
    chat = DiscordChat("revoked-token", standin.api_url)

    with pytest.raises(ChatAuthError):
        await chat.post(CHANNEL, one_page(), "delivery-13")
    await chat.stop()

    assert CHANNEL_ID not in standin.messages


async def test_discord_out_of_reach_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Route, "BASE", Route.BASE)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chat = DiscordChat(TOKEN, f"http://127.0.0.1:{port}/api/v10")

    with pytest.raises(TransientChatError):
        await chat.post(CHANNEL, one_page(), "delivery-14")
    await chat.stop()


async def test_a_channel_id_that_is_not_a_discord_snowflake_is_unavailable(
    chat: DiscordChat,
) -> None:
    with pytest.raises(ChannelUnavailable):
        await chat.post(ChannelRef("discord", GUILD_ID, "general"), one_page(), "delivery-15")


async def test_find_delivery_cannot_tell_and_relies_on_the_nonce(chat: DiscordChat) -> None:
    assert await chat.find_delivery(CHANNEL, "delivery-16") is None


async def test_a_long_digest_goes_out_as_several_accepted_messages(
    standin: DiscordStandIn, chat: DiscordChat
) -> None:
    items = tuple(
        match_for(paper(i, abstract="Diffusion " * 60 + "done."), "diffusion") for i in range(24)
    )
    digest = Digest(channel=CHANNEL, items=items, more=5)

    pages = chat.paginate(digest)
    ids = [await chat.post(CHANNEL, p, f"delivery-17:{p.page}") for p in pages]

    posted = standin.messages[CHANNEL_ID]
    assert len(pages) > 2 and [m["id"] for m in posted] == ids
    assert sum(len(m["embeds"]) for m in posted) == 24
    assert posted[-1]["content"].endswith("and 5 more — find them with `/papers search`")


async def test_settings_choose_the_token_api_and_guild(
    standin: DiscordStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DISCORD_GUILD_ID", GUILD_ID)
    monkeypatch.setenv("PAPERBOT_DISCORD_API_URL", standin.api_url + "/")
    chat = DiscordChat.from_settings(Settings(_env_file=None))

    message_id = await chat.post(CHANNEL, one_page(), "delivery-18")
    await chat.stop()

    assert [m["id"] for m in standin.messages[CHANNEL_ID]] == [message_id]


def test_without_a_token_there_is_no_discord_adapter() -> None:
    with pytest.raises(ValueError, match="DISCORD_BOT_TOKEN"):
        DiscordChat.from_settings(Settings(_env_file=None, discord_bot_token=None))


def test_the_invite_link_asks_for_commands_and_three_channel_permissions() -> None:
    url = invite_url(APP_ID)

    assert BOT_PERMISSIONS.value == 1024 + 2048 + 16384 == 19456
    assert url == (
        f"https://discord.com/oauth2/authorize?client_id={APP_ID}"
        "&scope=bot+applications.commands&permissions=19456"
    )


async def test_threads_put_each_full_abstract_under_the_digest(
    standin: DiscordStandIn, chat: DiscordChat
) -> None:
    page = one_page("@everyone Diffusion")

    message_id = await chat.post(CHANNEL, page, "delivery-t", threads=True)

    [(thread_id, where)] = standin.threads.items()
    assert where == {"parent": CHANNEL_ID, "message": message_id}
    [abstract] = standin.messages[thread_id]
    assert abstract["content"].startswith("**@\u200beveryone Diffusion**\n")
    assert page.items[0].paper.abstract[:40] in abstract["content"]
    assert abstract["mention_everyone"] is False


async def test_a_failed_thread_does_not_fail_the_digest(
    standin: DiscordStandIn, chat: DiscordChat
) -> None:
    standin.fail("POST", rf"/channels/{CHANNEL_ID}/messages/\d+/threads", 403)
    message_id = await chat.post(CHANNEL, one_page(), "delivery-u", threads=True)
    assert [m["id"] for m in standin.messages[CHANNEL_ID]] == [message_id]
    assert standin.threads == {}  # the thread was refused; the digest stands


async def test_a_long_rate_limit_on_the_thread_does_not_fail_the_digest(
    standin: DiscordStandIn, chat: DiscordChat
) -> None:
    standin.rate_limit("POST", rf"/channels/{CHANNEL_ID}/messages/\d+/threads", retry_after=64.57)
    started = time.monotonic()
    message_id = await chat.post(CHANNEL, one_page(), "delivery-v", threads=True)
    assert time.monotonic() - started < 5  # reported, not waited out
    assert [m["id"] for m in standin.messages[CHANNEL_ID]] == [message_id]
    assert standin.threads == {}
