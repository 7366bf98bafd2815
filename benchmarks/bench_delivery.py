"""Delivery at scale: 10,000 channels with 3 subscriptions each and 2,000 new papers; a third
of the channels have voted on 20 papers each (so their digests are ranked by a learned model).

One scheduler sweep builds every channel's digest and posts it through the real Slack adapter
(slack_sdk) to a local chat stand-in that answers each post in 20 ms. Reported: total time,
posts per second, the ratio to the most the stand-in can take at the sweep's bound on requests in
flight, peak RSS, and duplicates. Targets: all posted in under 60 s, peak RSS under 300 MB, zero
duplicates.

    python -m benchmarks.bench_delivery [--channels N]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from aiohttp import web
from sqlalchemy import insert

from adapters.scheduling.timer import ApsTimer
from adapters.slack.chat import SlackChat
from benchmarks.corpus import bench_papers, vocabulary
from bot.delivery.pipeline import Pipeline
from bot.delivery.scheduler import CONCURRENCY, Scheduler
from bot.models import Paper
from bot.query.language import parse
from storage import build_stores
from storage.db import open_database
from storage.tables import channels, subscriptions, votes

CHANNELS = 10_000
SUBS_PER_CHANNEL = 3
VOTES_PER_CHANNEL = 20  # for every third channel: 14 likes, 6 dislikes
PAPERS = 2_000
LATENCY = 0.020
TEAM = "TBENCH"


class ChatStandIn:
    """chat.postMessage answered after LATENCY seconds, in a process of its own (so its work is
    not counted as the bot's); keeps only what the checks need."""

    def __init__(self) -> None:
        self.deliveries: Counter[str] = Counter()
        self.per_channel: Counter[str] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0

    async def post(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            body = await request.json()
            await asyncio.sleep(LATENCY)
            self.deliveries[body["metadata"]["event_payload"]["delivery_id"]] += 1
            self.per_channel[body["channel"]] += 1
            ts = f"{time.time():.6f}"
            return web.json_response({"ok": True, "channel": body["channel"], "ts": ts})
        finally:
            self.in_flight -= 1

    @classmethod
    def serve(cls, conn: Connection) -> None:
        """The child process: serve until told to stop, then send back what was received."""

        async def main() -> None:
            standin = cls()
            app = web.Application()
            app.router.add_post("/api/chat.postMessage", standin.post)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            conn.send(runner.addresses[0][1])
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            await runner.cleanup()
            conn.send((standin.deliveries, standin.per_channel, standin.peak_in_flight))

        asyncio.run(main())


async def seed(url: str, n_channels: int, papers: list[Paper], now: datetime) -> None:
    """Channels owed today's digest, each following three words of the corpus's vocabulary."""
    engine = await open_database(url)
    stores = build_stores(engine)
    rng = random.Random(42)
    words = vocabulary(papers, min_count=3, max_share=0.02)
    long_ago = now - timedelta(days=2)
    channel_rows, sub_rows, vote_rows = [], [], []
    for i in range(n_channels):
        cid = f"slack:{TEAM}:C{i:05d}"
        channel_rows.append(
            {
                "id": cid,
                "platform": "slack",
                "workspace": TEAM,
                "channel": f"C{i:05d}",
                "schedule_at": "00:00",
                "timezone": "UTC",
                "days": "daily",
                "max_items": 10,
                "min_upvotes": 0,
                "threads": False,
                "paused": False,
                "active": True,
                "created_at": long_ago,
            }
        )
        for word in rng.sample(words, SUBS_PER_CHANNEL):
            sub_rows.append(
                {
                    "channel_id": cid,
                    "query": word,
                    "canonical": parse(word).canonical,
                    "created_at": long_ago,
                }
            )
        if i % 3 == 0:
            for k, voted in enumerate(rng.sample(papers, VOTES_PER_CHANNEL)):
                vote_rows.append(
                    {
                        "channel_id": cid,
                        "user_id": f"U{k % 4}",
                        "paper_id": voted.id,
                        "value": 1 if k < 14 else -1,
                        "title": voted.title,
                        "abstract": voted.abstract,
                        "created_at": long_ago,
                    }
                )
    async with engine.begin() as conn:
        await conn.execute(insert(channels), channel_rows)
        await conn.execute(insert(subscriptions), sub_rows)
        await conn.execute(insert(votes), vote_rows)
    await stores.papers.upsert(papers, now)
    await engine.dispose()


async def run(n_channels: int) -> bool:
    """Seed, sweep once, print the figures; True if every target is met."""
    papers = bench_papers(PAPERS)
    with tempfile.TemporaryDirectory(prefix="paperbot-bench-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        now = datetime.now(UTC)
        await seed(url, n_channels, papers, now)
        parent, child = multiprocessing.Pipe()
        server = multiprocessing.get_context("spawn").Process(
            target=ChatStandIn.serve, args=(child,), daemon=True
        )
        server.start()
        port = parent.recv()
        try:
            engine = await open_database(url)
            chat = SlackChat(
                bot_token="xoxb-bench",
                signing_secret="bench",
                api_url=f"http://127.0.0.1:{port}/api/",
            )
            pipeline = Pipeline(
                build_stores(engine), {}, {"slack": chat}, lambda: datetime.now(UTC)
            )
            scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1))
            rss_before = _rss_mb()
            began = time.perf_counter()
            reports = await scheduler.sweep()
            elapsed = time.perf_counter() - began
            rss_peak = _rss_mb()
            await chat.stop()
            await engine.dispose()
        finally:
            parent.send("stop")
            deliveries, per_channel, peak_in_flight = parent.recv()
            server.join(10)

    posts = sum(deliveries.values())
    duplicates = sum(n - 1 for n in deliveries.values() if n > 1)
    served = sum(1 for r in reports if r.posted or r.note is None)
    with_digest = len(per_channel)
    pending = sum(r.pending for r in reports)
    rate = posts / elapsed if elapsed else 0.0
    ceiling = CONCURRENCY / LATENCY
    print(
        f"channels: {n_channels:,} ({n_channels * SUBS_PER_CHANNEL:,} subscriptions), papers: {len(papers):,}"
    )
    print(
        f"channels with {VOTES_PER_CHANNEL} votes (digests ranked by a learned model): "
        f"{len(range(0, n_channels, 3)):,}"
    )
    print(f"channels served by the sweep: {served:,}; with a digest posted: {with_digest:,}")
    print(f"posts: {posts:,} in {elapsed:.2f} s = {rate:,.0f} posts/s")
    print(
        f"stand-in ceiling at {CONCURRENCY} requests in flight x {LATENCY * 1000:.0f} ms: "
        f"{ceiling:,.0f} posts/s; ratio {rate / ceiling:.2f} (peak in flight {peak_in_flight})"
    )
    print(f"peak RSS: {rss_peak:.0f} MB (before the sweep: {rss_before:.0f} MB)")
    print(f"duplicates: {duplicates}; papers still pending: {pending}")
    ok = elapsed < 60 and rss_peak < 300 and duplicates == 0 and pending == 0
    ok = ok and served == n_channels and with_digest > 0.9 * n_channels
    print(
        "targets (all posted < 60 s, peak RSS < 300 MB, 0 duplicates): "
        + ("met" if ok else "MISSED")
    )
    return ok


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> bool:
    """Run the benchmark with the issue's sizes (or --channels N)."""
    n = CHANNELS
    if "--channels" in sys.argv:
        n = int(sys.argv[sys.argv.index("--channels") + 1])
    return asyncio.run(run(n))


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
