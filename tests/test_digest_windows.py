"""Digest windows meet end to end: a paper stored while a digest runs goes in the next one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from adapters.scheduling.timer import ApsTimer
from bot.delivery.scheduler import Scheduler
from bot.models import ChannelRef
from tests.conftest import paper

A = ChannelRef.parse("console:local:alpha")
B = ChannelRef.parse("console:local:beta")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def posted_to(chat, ref: ChannelRef) -> list[str]:  # type: ignore[no-untyped-def]
    return [pid for post in chat.posts if post.channel == ref for pid in post.paper_ids]


async def test_papers_of_a_slow_poll_go_in_the_next_digest(pipeline, source, chat, clock):
    clock.set(utc(2026, 11, 30, 8, 50))
    await chat.command(A, "subscribe diffusion")
    source.papers = [paper(1, "Diffusion one")]
    started, release = asyncio.Event(), asyncio.Event()
    fetch = source.fetch

    async def slow_fetch(since, cursor):  # type: ignore[no-untyped-def]
        started.set()
        await release.wait()  # arXiv's spacing, retries, a long Retry-After...
        return await fetch(since, cursor)

    source.fetch = slow_fetch
    polling = asyncio.create_task(pipeline.poll("list", force=True))
    await started.wait()
    clock.advance(minutes=20)
    assert (await pipeline.run_digest(A)).posted == 0  # the fetch is still under way
    clock.advance(minutes=1)
    release.set()
    assert [p.id for p in (await polling).new] == ["arxiv:2611.00001"]

    clock.advance(days=1)
    assert (await pipeline.run_digest(A)).papers == 1
    assert posted_to(chat, A) == ["arxiv:2611.00001"]


async def test_a_paper_stored_during_a_sweep_reaches_every_channel_next_time(
    pipeline, source, chat, clock
):
    clock.set(utc(2026, 11, 30, 8))
    for ref in (A, B):
        await chat.command(ref, "subscribe diffusion")
    source.papers = [paper(1, "Diffusion one")]
    await pipeline.poll("list", force=True)
    scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1), concurrency=1)
    post = chat.post
    polled = False

    async def post_then_poll(channel, page, delivery_id, **kw):  # type: ignore[no-untyped-def]
        nonlocal polled
        message = await post(channel, page, delivery_id, **kw)
        if not polled:  # while the sweep still has the other channel to serve
            polled = True
            clock.advance(minutes=1)
            source.papers = [paper(1, "Diffusion one"), paper(2, "Diffusion two")]
            await pipeline.poll("list", force=True)
            clock.advance(minutes=1)
        return message

    chat.post = post_then_poll  # type: ignore[method-assign]
    clock.set(utc(2026, 11, 30, 9, 0, 30))
    assert sorted(r.papers for r in await scheduler.sweep()) == [1, 1]

    clock.set(utc(2026, 12, 1, 9, 0, 30))
    assert sorted(r.papers for r in await scheduler.sweep()) == [1, 1]
    for ref in (A, B):
        assert posted_to(chat, ref) == ["arxiv:2611.00001", "arxiv:2611.00002"]
