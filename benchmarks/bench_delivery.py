"""Delivery at scale: 10,000 channels with 3 subscriptions each and 2,000 new papers; a third
of the channels have voted on 20 papers each (so their digests are ranked by a learned model).

One scheduler sweep builds every channel's digest and posts it through the real Slack adapter
(slack_sdk) to a local chat stand-in that answers each post in 20 ms. The same sweep runs twice,
each in a fresh interpreter: without votes (the baseline, on the same machine at the same time)
and with them. Reported: total time, posts per second, peak RSS, duplicates, and what the votes
cost as a ratio. Targets, with votes: all posted in under 60 s, peak RSS under 300 MB, zero
duplicates.

    python -m benchmarks.bench_delivery [--channels N]
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from aiohttp import web
from sqlalchemy import insert

from adapters.scheduling.timer import ApsTimer
from adapters.slack.chat import SlackChat
from benchmarks.apart import apart
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


async def seed(
    url: str, n_channels: int, papers: list[Paper], now: datetime, votes_per_channel: int
) -> None:
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
            for k, voted in enumerate(rng.sample(papers, votes_per_channel)):
                vote_rows.append(
                    {
                        "channel_id": cid,
                        "user_id": f"U{k % 4}",
                        "paper_id": voted.id,
                        "value": 1 if k < votes_per_channel * 7 // 10 else -1,
                        "title": voted.title,
                        "abstract": voted.abstract,
                        "created_at": long_ago,
                    }
                )
    async with engine.begin() as conn:
        await conn.execute(insert(channels), channel_rows)
        await conn.execute(insert(subscriptions), sub_rows)
        if vote_rows:
            await conn.execute(insert(votes), vote_rows)
    await stores.papers.upsert(papers, now)
    await engine.dispose()


@dataclass(frozen=True)
class Figures:
    """One sweep's outcome, as measured in a process of its own."""

    elapsed: float
    cpu: float  # the bot's process, all its threads
    posts: int
    served: int
    with_digest: int
    duplicates: int
    pending: int
    peak_in_flight: int
    rss_before: float
    rss_peak: float


async def run(url: str) -> Figures:
    """Sweep the seeded database once, and measure."""
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
        pipeline = Pipeline(build_stores(engine), {}, {"slack": chat}, lambda: datetime.now(UTC))
        scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1))
        # As `paperbot run` starts: the subscriptions indexed, then the start-up heap frozen
        # (entry.runner), so the collector does not rescan what lives for the process's life.
        await pipeline.sync_subscriptions()
        gc.freeze()
        rss_before = _rss_mb()
        began, cpu_began = time.perf_counter(), time.process_time()
        reports = await scheduler.sweep()
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        rss_peak = _rss_mb()
        await chat.stop()
        await engine.dispose()
    finally:
        parent.send("stop")
        deliveries, per_channel, peak_in_flight = parent.recv()
        server.join(10)
    return Figures(
        elapsed=elapsed,
        cpu=cpu,
        posts=sum(deliveries.values()),
        served=sum(1 for r in reports if r.posted or r.note is None),
        with_digest=len(per_channel),
        duplicates=sum(n - 1 for n in deliveries.values() if n > 1),
        pending=sum(r.pending for r in reports),
        peak_in_flight=peak_in_flight,
        rss_before=rss_before,
        rss_peak=rss_peak,
    )


def _seed(url: str, n_channels: int, votes_per_channel: int) -> None:
    asyncio.run(seed(url, n_channels, bench_papers(PAPERS), datetime.now(UTC), votes_per_channel))


def _sweep(url: str) -> Figures:
    return asyncio.run(run(url))


def measure(n_channels: int, votes_per_channel: int) -> Figures:
    """Seed, then sweep, each in a fresh interpreter: the sweep's peak RSS is the bot's own."""
    with tempfile.TemporaryDirectory(prefix="paperbot-bench-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        apart(_seed, url, n_channels, votes_per_channel)
        return apart(_sweep, url)


def report(n_channels: int) -> bool:
    """The sweep without votes (the baseline) and with them, in the same run; True if the
    sweep with votes meets every target."""
    base = measure(n_channels, 0)
    voted = measure(n_channels, VOTES_PER_CHANNEL)
    ceiling = CONCURRENCY / LATENCY
    print(
        f"channels: {n_channels:,} ({n_channels * SUBS_PER_CHANNEL:,} subscriptions), "
        f"papers: {PAPERS:,}; the stand-in answers each post in {LATENCY * 1000:.0f} ms, "
        f"at most {ceiling:,.0f} posts/s at {CONCURRENCY} in flight"
    )
    print(
        f"with votes: {len(range(0, n_channels, 3)):,} channels have {VOTES_PER_CHANNEL} "
        "votes each (their digests ranked by a learned model)"
    )
    print(f"{'':34}{'no votes':>14}{'with votes':>14}")
    rows = [
        ("sweep, all posted", lambda f: f"{f.elapsed:.2f} s"),
        ("CPU time of the bot's process", lambda f: f"{f.cpu:.2f} s"),
        ("posts", lambda f: f"{f.posts:,}"),
        ("posts/s", lambda f: f"{f.posts / f.elapsed:,.0f}"),
        ("channels served / with a digest", lambda f: f"{f.served:,}/{f.with_digest:,}"),
        ("peak RSS (before the sweep)", lambda f: f"{f.rss_peak:.0f} ({f.rss_before:.0f}) MB"),
        ("duplicates / still pending", lambda f: f"{f.duplicates} / {f.pending}"),
    ]
    for label, show in rows:
        print(f"{label:34}{show(base):>14}{show(voted):>14}")
    print(f"the votes' cost: x{voted.elapsed / base.elapsed:.2f} the sweep's time without them")
    ok = voted.elapsed < 60 and voted.rss_peak < 300 and voted.duplicates == 0
    ok = ok and voted.pending == 0 and voted.served == n_channels
    ok = ok and voted.with_digest > 0.9 * n_channels
    print(
        "targets with votes (all posted < 60 s, peak RSS < 300 MB, 0 duplicates): "
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
    return report(n)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
