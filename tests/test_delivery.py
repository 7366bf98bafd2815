"""Delivery through failures: retried, backed off, reconciled, never twice, never lost."""

from __future__ import annotations

import asyncio
import contextlib

from bot.delivery.pipeline import Pipeline
from bot.models import ChannelRef
from bot.ports import ChannelUnavailable, ChatAuthError, MessageRejected, TransientChatError
from tests.conftest import paper
from tests.fakes import FakeChat

CH = ChannelRef.parse("console:local:general")
PAPERS = [paper(i, f"Diffusion paper {i}", upvotes=i) for i in range(1, 8)]


async def setup(pipeline, source, chat, page_size=100):  # type: ignore[no-untyped-def]
    chat.page_size = page_size
    source.papers = PAPERS
    await pipeline.poll("list", force=True)
    await chat.command(CH, "subscribe diffusion")


async def test_rate_limit_is_waited_out_and_posted_once(pipeline, source, chat, clock, stores):
    await setup(pipeline, source, chat)
    chat.failures = [TransientChatError("ratelimited", retry_after=120)]
    report = await pipeline.run_digest(CH)
    assert report.posted == 0 and report.pending == 7
    assert (await pipeline.flush(CH)).posted == 0  # Retry-After not over yet
    clock.advance(seconds=119)
    assert (await pipeline.flush(CH)).posted == 0
    clock.advance(seconds=2)
    report = await pipeline.flush(CH)
    assert report.posted == 1 and report.pending == 0
    assert len(chat.posts) == 1 and len(chat.posted_ids()) == 7


async def test_pages_split_and_a_failure_midway_resumes_where_it_stopped(
    pipeline, source, chat, clock
):
    await setup(pipeline, source, chat, page_size=3)
    chat.failures = []
    original = chat.post
    calls = 0

    async def flaky(channel, page, delivery_id, threads=False):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise TransientChatError("HTTP 500")
        return await original(channel, page, delivery_id)

    chat.post = flaky  # type: ignore[method-assign]
    report = await pipeline.run_digest(CH)
    assert report.posted == 1
    clock.advance(hours=2)
    report = await pipeline.flush(CH)
    assert report.posted == 2 and report.pending == 0
    ids = chat.posted_ids()
    assert len(ids) == 7 and len(set(ids)) == 7
    assert [p.page.page for p in chat.posts] == [1, 2, 3]
    assert chat.posts[-1].page.pages == 3


async def test_pages_after_a_rate_limited_one_wait_their_turn(pipeline, source, chat, clock):
    await setup(pipeline, source, chat, page_size=3)
    chat.failures = [TransientChatError("ratelimited", retry_after=120)]
    assert (await pipeline.run_digest(CH)).posted == 0
    clock.advance(seconds=60)
    assert (await pipeline.flush(CH)).posted == 0  # page 1 is not due: nor are 2 and 3
    clock.advance(seconds=61)
    assert (await pipeline.flush(CH)).posted == 3
    assert [(p.page.page, p.page.pages) for p in chat.posts] == [(1, 3), (2, 3), (3, 3)]


async def test_lost_response_is_reconciled_not_reposted(pipeline, source, chat, clock):
    await setup(pipeline, source, chat)
    chat.lose_responses = 1  # the post lands, the answer never comes back
    report = await pipeline.run_digest(CH)
    assert report.posted == 0
    clock.advance(hours=2)
    report = await pipeline.flush(CH)
    assert report.pending == 0
    assert len(chat.posts) == 1  # found by its delivery id, not posted again


async def test_crash_between_claim_and_answer_is_reconciled_after_restart(
    stores, source, chat, clock
):
    first = Pipeline(stores, {"list": source}, {"console": chat}, clock)
    from bot.commands.handler import CommandHandler
    from bot.models import Schedule

    await chat.start(CommandHandler(first, Schedule()))
    await setup(first, source, chat)

    def crash(channel):  # type: ignore[no-untyped-def]
        raise asyncio.CancelledError  # the process dies mid-request

    chat.before_post = crash
    with contextlib.suppress(asyncio.CancelledError):
        await first.run_digest(CH)
    [page] = await stores.deliveries.open_pages(CH)
    assert page.state == "sending"

    chat.before_post = None
    restarted = Pipeline(stores, {"list": source}, {"console": chat}, clock)
    report = await restarted.flush(CH)
    assert report.posted == 1 and len(chat.posts) == 1

    # And if the post had landed before the crash, the restart finds it instead.
    assert (await restarted.flush(CH)).posted == 0
    assert len(chat.posts) == 1


async def test_a_page_retried_after_a_restart_keeps_its_highlights(stores, source, chat, clock):
    from bot.commands.handler import CommandHandler
    from bot.models import Schedule

    first = Pipeline(stores, {"list": source}, {"console": chat}, clock)
    await chat.start(CommandHandler(first, Schedule()))
    await setup(first, source, chat)
    chat.failures = [TransientChatError("HTTP 503")]
    assert (await first.run_digest(CH)).pending == 7

    clock.advance(hours=1)
    restarted = Pipeline(stores, {"list": source}, {"console": chat}, clock)  # an empty book
    assert (await restarted.run_digest(CH)).posted == 1
    [post] = chat.posts
    assert len(post.paper_ids) == 7
    assert all(m.terms == ("diffusion",) for m in post.page.items)


async def test_channel_gone_is_marked_inactive_and_not_retried(
    pipeline, source, chat, clock, stores
):
    await setup(pipeline, source, chat)
    chat.failures = [ChannelUnavailable("is_archived")]
    report = await pipeline.run_digest(CH)
    assert "inactive" in report.note
    channel = await stores.channels.get(CH)
    assert not channel.active
    clock.advance(days=1)
    assert (await pipeline.flush(CH)).posted == 0
    assert chat.posts == []
    # The papers are not lost: resuming the channel posts them.
    await chat.command(CH, "resume")
    assert (await pipeline.flush(CH)).posted == 1
    assert len(chat.posted_ids()) == 7


async def test_bad_credentials_stop_one_platform_only(stores, source, clock):
    slack = FakeChat(platform="slack")
    console = FakeChat(platform="console")
    pipe = Pipeline(stores, {"list": source}, {"slack": slack, "console": console}, clock)
    from bot.commands.handler import CommandHandler
    from bot.models import Schedule

    handler = CommandHandler(pipe, Schedule())
    await slack.start(handler)
    await console.start(handler)
    source.papers = PAPERS
    await pipe.poll("list", force=True)
    sl = ChannelRef.parse("slack:T1:C1")
    await slack.command(sl, "subscribe diffusion")
    await console.command(CH, "subscribe diffusion")
    slack.failures = [ChatAuthError("invalid_auth")]
    report = await pipe.run_digest(sl)
    assert "slack posting stopped" in report.note
    assert (await pipe.run_digest(CH)).posted == 1
    clock.advance(hours=1)
    assert (await pipe.flush(sl)).posted == 0 and slack.posts == []


async def test_adapter_bug_does_not_lose_the_page(pipeline, source, chat, clock):
    await setup(pipeline, source, chat)
    chat.failures = [RuntimeError("bug")]  # type: ignore[list-item]
    await pipeline.run_digest(CH)
    clock.advance(hours=2)
    assert (await pipeline.flush(CH)).posted == 1
    assert len(chat.posted_ids()) == 7


async def test_a_page_refused_as_rendered_goes_out_as_plain_text(pipeline, source, chat):
    await setup(pipeline, source, chat)
    chat.failures = [MessageRejected("invalid_blocks")]

    report = await pipeline.run_digest(CH)

    assert report.posted == 1 and report.pending == 0
    [post] = chat.posts
    assert post.plain and len(post.paper_ids) == 7


async def test_a_page_refused_even_as_plain_text_is_set_aside_and_holds_nothing_up(
    pipeline, source, chat, clock, stores
):
    await setup(pipeline, source, chat, page_size=3)  # pages of 3, 3 and 1 papers
    chat.failures = [MessageRejected("invalid_blocks"), MessageRejected("msg_too_long")]

    report = await pipeline.run_digest(CH)

    assert report.posted == 2 and report.pending == 0
    assert "3 papers set aside" in report.note and "msg_too_long" in report.note
    assert len(chat.posted_ids()) == 4  # the pages after the refused one still went out
    assert (await stores.deliveries.counts())[str(CH)] == {"sent": 4, "rejected": 3}
    clock.advance(days=1)
    assert (await pipeline.flush(CH)).posted == 0 and len(chat.posts) == 2  # not retried

    # Kept, not lost: once the cause is fixed, requeue posts them on the next flush.
    assert await stores.deliveries.requeue(CH) == (1, 3)
    assert (await pipeline.flush(CH)).posted == 1
    assert sorted(chat.posted_ids()) == sorted(p.id for p in PAPERS)
    assert await stores.deliveries.requeue(CH) == (0, 0)
