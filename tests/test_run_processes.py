"""`paperbot run` as real processes against a Slack stand-in.

- Killed with SIGKILL at random points, 20+ times, while a third of the posts fail: in the end
  every matching (channel, paper) is posted exactly once.
- Two replicas against one PostgreSQL database: every digest is posted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select

from adapters.sources.sample import SampleSource
from bot.delivery.pipeline import Pipeline
from bot.models import ChannelRef, ChannelSettings, Schedule
from bot.ports import utcnow
from bot.query.language import parse
from bot.query.matchbook import MatchBook
from storage import build_stores
from storage.db import open_database
from storage.tables import deliveries
from tests.conftest import PG_URL, pg_reason, reset_postgres
from tests.fakes import FakeChat
from tests.slack_standin import LOST_RESPONSE, SlackStandin

KILLS = 20
CHANNELS = 40
QUERIES = [
    "video",
    "robot",
    "graph",
    "audio",
    "segmentation",
    "reinforcement learning",
    "3d",
    "speech",
]
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


class ChaosSlack(SlackStandin):
    """The stand-in, failing a third of chat.postMessage calls (lost answers after the post
    landed, HTTP 500, HTTP 429 with Retry-After) and killing the bot at its `kill_at`-th call."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = random.Random(seed)
        self.pid: int | None = None
        self.kill_at = 0
        self.seen = 0
        self.killed = 0
        self.activity = asyncio.Event()
        self.latency = 0.0  # seconds chat.postMessage takes to answer, like a real server

    def arm(self, pid: int, kill_at: int) -> None:
        self.pid, self.kill_at, self.seen = pid, kill_at, 0

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        self.seen += 1
        self.activity.set()
        if self.pid is not None and self.seen == self.kill_at:
            if method == "chat.postMessage":  # the post lands; the bot dies before the answer
                self.fail(method, LOST_RESPONSE)
            os.kill(self.pid, signal.SIGKILL)
            self.killed += 1
            self.pid = None
        elif method == "chat.postMessage" and self.rng.random() < 1 / 3:
            fault = self.rng.choice(["lost", "500", "429"])
            if fault == "lost":
                self.fail(method, LOST_RESPONSE)
            elif fault == "500":
                self.fail(method, "internal_error", status=500)
            else:
                self.fail(method, "ratelimited", status=429, retry_after=1)
        if method == "chat.postMessage" and self.latency:
            await asyncio.sleep(self.latency)
        return await super()._api(request)


RUN = [sys.executable, "-c", "from entry.cli import main; main()", "run"]


def bot_env(slack: SlackStandin, url: str) -> dict[str, str]:
    """The environment of a `paperbot run` process posting to the stand-in over HTTP mode."""
    env = {
        **os.environ,
        "PAPERBOT_DATABASE_URL": url,
        "PAPERBOT_SOURCES": "sample",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": "secret",
        "PAPERBOT_SLACK_API_URL": slack.api_url,
        "PAPERBOT_PORT": str(free_port()),
        "PAPERBOT_SWEEP_SECONDS": "0.2",
        "PAPERBOT_RETRY_BASE_SECONDS": "0.1",
        "PAPERBOT_RETRY_MAX_SECONDS": "1",
        "PAPERBOT_LOG_LEVEL": "WARNING",
    }
    for name in ("SLACK_APP_TOKEN", "DISCORD_BOT_TOKEN"):
        env.pop(name, None)
    return env


async def wait_until_all_sent(
    slack: SlackStandin, url: str, expected: set[tuple[str, str]]
) -> None:
    """Until every expected (channel, paper) is in the ledger and sent, waking on each API call."""
    for _ in range(400):
        rows = await ledger(url)
        done = {(c, p) for c, p, _, state in rows if state == "sent"}
        if rows and done >= expected and len(done) == len(rows):
            return
        slack.activity.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(slack.activity.wait(), timeout=10)
    raise AssertionError("the ledger never got all sent")


def assert_exactly_once(slack: SlackStandin, rows: list[tuple[str, str, str, str]]) -> None:
    """Every message of the ledger is in the channel once, and nothing else is."""
    posted = Counter(
        m["metadata"]["event_payload"]["delivery_id"]
        for msgs in slack.messages.values()
        for m in msgs
    )
    assert set(posted) == {d for _, _, d, _ in rows}  # every message in the ledger landed
    assert max(posted.values()) == 1  # and none twice


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def prepare(url: str, team: str) -> set[tuple[str, str]]:
    """Channels owed today's digest, subscriptions, the sample papers; the expected deliveries."""
    engine = await open_database(url)
    stores = build_stores(engine)
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=2)
    rng = random.Random(7)
    for i in range(CHANNELS):
        ref = ChannelRef("slack", team, f"C{i:03d}")
        channel = await stores.channels.ensure(ref, Schedule(time(0, 0)), long_ago)
        await stores.channels.save(
            channel.__class__(**{**channel.__dict__, "settings": ChannelSettings(max_items=50)})
        )
        for query in rng.sample(QUERIES, 2):
            await stores.channels.subscribe(ref, query, parse(query).canonical, long_ago)
    pipe = Pipeline(stores, {"sample": SampleSource()}, {"slack": FakeChat("slack")}, utcnow)
    await pipe.poll("sample", force=True)
    book = MatchBook()
    book.sync(await stores.channels.all_subscriptions())
    papers = await stores.papers.seen_between(None, datetime.now(UTC))
    expected = {(str(ref), m.paper.id) for ref, ms in book.matches(papers).items() for m in ms}
    per_channel = Counter(ch for ch, _ in expected)
    assert max(per_channel.values()) <= 50, "queries must not hit the digest cap"
    await engine.dispose()
    return expected


async def ledger(url: str) -> list[tuple[str, str, str, str]]:
    engine = await open_database(url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                deliveries.c.channel_id,
                deliveries.c.paper_id,
                deliveries.c.delivery_id,
                deliveries.c.state,
            )
        )
        out = [tuple(r) for r in rows]
    await engine.dispose()
    return out  # type: ignore[return-value]


async def test_sigkill_at_random_points_posts_everything_exactly_once(tmp_path):
    rng = random.Random(20261130)
    idle_kills: list[int] = []
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    async with ChaosSlack(seed=1) as slack:
        expected = await prepare(url, slack.workspace.team_id)
        assert len(expected) > 100
        env = bot_env(slack, url)
        command = RUN

        async def start() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                *command,
                env=env,
                cwd=tmp_path,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )

        while slack.killed < KILLS:
            proc = await start()
            slack.arm(proc.pid, kill_at=rng.randint(1, 4))
            exited = asyncio.ensure_future(proc.wait())
            while not exited.done():
                slack.activity.clear()
                woke = asyncio.ensure_future(slack.activity.wait())
                done, _ = await asyncio.wait({exited, woke}, timeout=15)
                woke.cancel()
                if not done:  # no call for a while: out of work before its kill point
                    proc.kill()
                    slack.killed += 1
                    idle_kills.append(slack.killed)
            await exited

        # A last run, still with failing posts, until the ledger is all sent.
        proc = await start()
        await wait_until_all_sent(slack, url, expected)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0

        rows = await ledger(url)
        assert slack.killed >= KILLS
        assert len(idle_kills) < KILLS / 2, f"most kills found no work left: {idle_kills}"
        assert {(c, p) for c, p, _, _ in rows} == expected  # none lost, none extra
        assert_exactly_once(slack, rows)


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason=pg_reason)
async def test_two_replicas_on_postgresql_post_every_digest_once(tmp_path):
    await reset_postgres(PG_URL)
    async with ChaosSlack(seed=2) as slack:
        slack.rng = random.Random(0)
        slack.rng.random = lambda: 1.0  # type: ignore[method-assign]  # no failures: just the race
        slack.latency = 0.05  # posts take a while, so the replicas' work overlaps
        expected = await prepare(PG_URL, slack.workspace.team_id)
        replicas = [
            await asyncio.create_subprocess_exec(
                *RUN,
                env=bot_env(slack, PG_URL),
                cwd=tmp_path,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        try:
            await wait_until_all_sent(slack, PG_URL, expected)
        finally:
            for proc in replicas:
                proc.send_signal(signal.SIGTERM)
            codes = [await asyncio.wait_for(p.wait(), timeout=30) for p in replicas]
        assert codes == [0, 0]
        rows = await ledger(PG_URL)
        assert {(c, p) for c, p, _, _ in rows} == expected
        assert_exactly_once(slack, rows)
        # both replicas did work: each answered auth.test and posted under its own locks
        assert len(slack.calls_to("auth.test")) == 2
