"""`paperbot run` mailing digests as a real process, killed (SIGKILL) while the SMTP server
is taking a message: nothing is lost, and each kill costs at most one extra copy (the digest
whose answer the kill cut off is sent again: no mailbox can be asked whether it arrived)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import aiohttp
import pytest

from adapters.email.chat import ONE_CLICK
from adapters.sources.sample import SampleSource
from adapters.web.unsubscribe import UnsubscribeTokens
from bot.delivery.pipeline import Pipeline
from bot.delivery.scheduler import CONCURRENCY
from bot.models import ChannelRef, ChannelSettings, Schedule
from bot.ports import utcnow
from bot.query.language import parse
from bot.query.matchbook import MatchBook
from storage import build_stores
from storage.db import open_database
from storage.secrets import stored_secret
from tests.fakes import FakeChat
from tests.smtp_standin import SmtpStandin, free_port
from tests.test_run_processes import RUN, ledger

pytestmark = pytest.mark.slow

CHANNELS = 7
KILLS = 2
QUERIES = ["video", "robot", "graph", "audio", "segmentation", "speech", "3d"]


async def prepare(url: str) -> set[tuple[str, str]]:
    """Email channels owed today's digest, a query each, the sample papers; what is owed."""
    engine = await open_database(url)
    stores = build_stores(engine)
    long_ago = datetime.now(UTC) - timedelta(days=2)
    for i, query in enumerate(QUERIES[:CHANNELS]):
        ref = ChannelRef("email", "lab.org", f"reader{i}")
        channel = await stores.channels.ensure(ref, Schedule(time(0, 0)), long_ago)
        await stores.channels.save(replace(channel, settings=ChannelSettings(max_items=50)))
        await stores.channels.subscribe(ref, query, parse(query).canonical, long_ago)
    pipe = Pipeline(stores, {"sample": SampleSource()}, {"email": FakeChat("email")}, utcnow)
    await pipe.poll("sample", force=True)
    book = MatchBook()
    book.sync(await stores.channels.all_subscriptions())
    papers = await stores.papers.seen_between(None, datetime.now(UTC))
    await engine.dispose()
    owed = {(str(ref), m.paper.id) for ref, ms in book.matches(papers).items() for m in ms}
    assert max(Counter(c for c, _ in owed).values()) <= 50, "queries must not hit the cap"
    return owed


async def test_sigkill_during_a_send_loses_nothing(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    expected = await prepare(url)
    assert len({c for c, _ in expected}) == CHANNELS
    with SmtpStandin() as smtp:
        env = {
            **os.environ,
            "PAPERBOT_DATABASE_URL": url,
            "PAPERBOT_SOURCES": "sample",
            "PAPERBOT_SMTP_URL": smtp.url,
            "PAPERBOT_EMAIL_FROM": "paperbot@lab.org",
            "PAPERBOT_PUBLIC_URL": "https://papers.lab.org",
            "PAPERBOT_PORT": str(free_port()),
            "PAPERBOT_SWEEP_SECONDS": "0.2",
            "PAPERBOT_RETRY_BASE_SECONDS": "0.1",
            "PAPERBOT_RETRY_MAX_SECONDS": "1",
            "PAPERBOT_LOG_LEVEL": "WARNING",
        }
        for name in (
            "SLACK_BOT_TOKEN",
            "SLACK_APP_TOKEN",
            "SLACK_SIGNING_SECRET",
            "DISCORD_BOT_TOKEN",
        ):
            env.pop(name, None)
        kills = 0
        for _ in range(KILLS):
            proc = await asyncio.create_subprocess_exec(
                *RUN,
                env=env,
                cwd=tmp_path,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            pid = proc.pid

            def kill(pid: int = pid) -> None:  # the message is in; the bot dies before the 250
                nonlocal kills
                smtp.mailbox.on_data = None
                os.kill(pid, signal.SIGKILL)
                kills += 1

            smtp.mailbox.on_data = kill
            assert await asyncio.wait_for(proc.wait(), timeout=60) == -signal.SIGKILL
        assert kills == KILLS

        proc = await asyncio.create_subprocess_exec(
            *RUN,
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(300):
            rows = await ledger(url)
            if rows and all(state == "sent" for *_, state in rows) and len(rows) == len(expected):
                break
            smtp.mailbox.arrived.clear()
            await asyncio.to_thread(smtp.mailbox.arrived.wait, 1.0)
        # The running bot serves the one-click link beside /healthz: a POST pauses the channel.
        reader = ChannelRef("email", "lab.org", "reader0")
        engine = await open_database(url)
        link = UnsubscribeTokens(await stored_secret(engine, "unsubscribe")).url(
            f"http://127.0.0.1:{env['PAPERBOT_PORT']}", reader
        )
        async with aiohttp.ClientSession() as http:
            async with http.post(link + "x", data=ONE_CLICK) as resp:
                assert resp.status == 404
            async with http.post(link, data=ONE_CLICK) as resp:
                assert resp.status == 200
        assert (await build_stores(engine).channels.get(reader)).paused
        await engine.dispose()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0

    rows = await ledger(url)
    assert {(c, p) for c, p, _, _ in rows} == expected  # none lost, none extra
    assert all(state == "sent" for *_, state in rows)
    mailed = Counter(smtp.mailbox.delivery_ids())
    assert set(mailed) == {d for _, _, d, _ in rows}  # every digest arrived
    # Each kill cut off the answer of the send it was fired in: that digest is mailed once more.
    # The sweep sends to several channels at once, so a kill may also cut off others that were
    # in flight (each mailed once more too), never more than the sends running at once.
    extra = sum(n - 1 for n in mailed.values())
    assert KILLS <= extra <= KILLS * CONCURRENCY
    assert max(mailed.values()) <= KILLS + 1
