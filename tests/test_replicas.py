"""Two replicas against one PostgreSQL database post each digest once."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from adapters.scheduling.timer import ApsTimer
from bot.commands.handler import CommandHandler
from bot.delivery.pipeline import Pipeline
from bot.delivery.scheduler import Scheduler
from bot.models import ChannelRef, Command, Schedule
from storage import build_stores
from storage.db import open_database
from tests.conftest import PG_URL, ListSource, paper, pg_reason, reset_postgres
from tests.fakes import FakeChat, FakeClock

pytestmark = pytest.mark.postgres


@pytest.mark.skipif(not PG_URL, reason=pg_reason)
async def test_two_replicas_sweeping_at_once_post_every_digest_once():
    from datetime import timedelta

    await reset_postgres(PG_URL)
    clock = FakeClock()
    shared_chat = FakeChat()  # the one chat platform both replicas post to
    source = ListSource([paper(i, f"Diffusion result {i}", upvotes=i) for i in range(1, 13)])
    replicas = []
    for _ in range(2):
        engine = await open_database(PG_URL)
        pipe = Pipeline(build_stores(engine), {"list": source}, {"console": shared_chat}, clock)
        replicas.append(
            (engine, pipe, Scheduler(pipe, ApsTimer(), poll_interval=timedelta(hours=1)))
        )
    try:
        first = replicas[0][1]
        handler = CommandHandler(first, Schedule())
        channels = [ChannelRef("console", "local", f"c{i}") for i in range(40)]
        for ref in channels:
            await handler(Command(ref, "U1", "subscribe diffusion"))
        clock.advance(minutes=1)
        await first.poll("list", force=True)
        clock.set(clock().replace(hour=9, minute=0, second=30))  # every channel's slot passed

        async def slow_post(channel, page, delivery_id, threads=False, _post=shared_chat.post):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0)  # let the other replica run in between
            return await _post(channel, page, delivery_id)

        shared_chat.post = slow_post  # type: ignore[method-assign]
        await asyncio.gather(*(sched.sweep() for _, _, sched in replicas))
        await asyncio.gather(*(sched.sweep() for _, _, sched in replicas))

        per_channel = Counter((p.channel, pid) for p in shared_chat.posts for pid in p.paper_ids)
        assert len(per_channel) == 40 * 10  # max=10 of the 12 matching papers, every channel
        assert max(per_channel.values()) == 1  # none twice
        assert len(shared_chat.posts) == 40  # one digest message per channel
    finally:
        for engine, _, _ in replicas:
            await engine.dispose()
