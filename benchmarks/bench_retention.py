"""Retention at scale: a prune of 100,000 papers from a store of 500,000, while a digest sweep
goes on.

The store (SQLite, as the bot runs by default) is written with bulk inserts: papers spread over a
year, a ledger row for each old one, and channels with three subscriptions each, all owing
today's digest. It is copied, so both measurements start from the same state: the sweep alone on
one copy, then on the other the bot's daily prune job started first and the sweep run while it
goes on (the same Scheduler, the same single connection). Reported: the sweep's time alone and
during the prune, their ratio, and the prune's own time and batches. Target: the sweep delayed by
at most 10%, the prune completed, nothing posted twice.

    python -m benchmarks.bench_retention [--papers N] [--prune N] [--channels N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from benchmarks.corpus import bench_papers, vocabulary
from bot.delivery.digest import paginate
from bot.delivery.pipeline import Pipeline
from bot.delivery.retention import PAUSE_S
from bot.delivery.scheduler import Scheduler
from bot.models import ChannelRef, Digest
from bot.query.language import parse
from storage import build_stores
from storage.db import open_database
from storage.tables import channels, deliveries, papers, subscriptions

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
RETENTION = timedelta(days=180)
TARGET = 1.10


class CountingChat:
    """A platform that takes every post at once and counts deliveries (duplicates show)."""

    platform = "console"

    def __init__(self) -> None:
        self.deliveries: Counter[str] = Counter()

    async def start(self, on_command: object) -> None: ...

    def paginate(self, digest: Digest) -> list[Digest]:
        return paginate(digest, lambda d: len(d.items) <= 10)

    async def post(self, channel: ChannelRef, page: Digest, delivery_id: str, **kw: object) -> str:
        self.deliveries[delivery_id] += 1
        return delivery_id

    async def find_delivery(self, channel: ChannelRef, delivery_id: str) -> str | None:
        return None

    async def stop(self) -> None: ...


class NoTimer:
    """The prune and sweep are called directly: nothing is scheduled."""

    running = False

    def every(self, *a: object, **k: object) -> None: ...
    def at(self, *a: object, **k: object) -> None: ...
    def has(self, job_id: str) -> bool:
        return False

    def remove(self, job_id: str) -> None: ...
    def start(self) -> None: ...
    def pause(self) -> None: ...
    def shutdown(self) -> None: ...


async def build(path: Path, n_papers: int, n_old: int, n_channels: int) -> None:
    """The store, in bulk: old papers (to prune) with ledger rows, young ones over half a year."""
    engine = await open_database(f"sqlite+aiosqlite:///{path}")
    corpus = bench_papers(2_000)
    words = vocabulary(corpus)
    rng = random.Random(11)
    young_span = (RETENTION - timedelta(days=1)).total_seconds()
    async with engine.begin() as conn:
        rows = []
        for i in range(n_papers):
            base = corpus[i % len(corpus)]
            if i < n_old:
                seen = NOW - RETENTION - timedelta(days=1 + rng.random() * 180)
            else:
                seen = NOW - timedelta(seconds=rng.random() * young_span)
            rows.append(
                {
                    "id": f"arxiv:bench.{i:07d}",
                    "title": base.title,
                    "abstract": base.abstract[:400],
                    "authors": [],
                    "url": f"https://arxiv.org/abs/bench.{i:07d}",
                    "categories": list(base.categories),
                    "upvotes": base.upvotes,
                    "first_seen": seen,
                    "updated_at": seen,
                    "sources": ["sample"],
                    "ai_keywords": [],
                }
            )
            if len(rows) == 20_000:
                await conn.execute(insert(papers), rows)
                rows = []
        if rows:
            await conn.execute(insert(papers), rows)
        chans, subs = [], []
        for c in range(n_channels):
            cid = f"console:bench:c{c:05d}"
            chans.append(
                {
                    "id": cid,
                    "platform": "console",
                    "workspace": "bench",
                    "channel": f"c{c:05d}",
                    "schedule_at": "09:00",
                    "timezone": "UTC",
                    "days": "daily",
                    "max_items": 10,
                    "min_upvotes": 0,
                    "threads": False,
                    "paused": False,
                    "active": True,
                    "last_digest_at": NOW - timedelta(days=1),
                    "created_at": NOW - timedelta(days=400),
                }
            )
            for word in rng.sample(words, 3):
                subs.append(
                    {
                        "channel_id": cid,
                        "query": word,
                        "canonical": parse(word).canonical,
                        "created_at": NOW - timedelta(days=400),
                    }
                )
        await conn.execute(insert(channels), chans)
        await conn.execute(insert(subscriptions), subs)
        ledger = [
            {
                "channel_id": f"console:bench:c{i % n_channels:05d}",
                "paper_id": f"arxiv:bench.{i:07d}",
                "delivery_id": f"old{i // 10:07d}",
                "position": i % 10,
                "state": "sent",
                "created_at": NOW - RETENTION - timedelta(days=1),
            }
            for i in range(n_old)
        ]
        for i in range(0, len(ledger), 20_000):
            await conn.execute(insert(deliveries), ledger[i : i + 20_000])
    await engine.dispose()


async def measure(path: Path, with_prune: bool) -> dict[str, float]:
    """One sweep over the copy at `path`, alone or with the daily prune job already running."""
    engine = await open_database(f"sqlite+aiosqlite:///{path}")
    stores = build_stores(engine)
    chat = CountingChat()
    pipeline = Pipeline(stores, {}, {"console": chat}, lambda: NOW)
    scheduler = Scheduler(
        pipeline, NoTimer(), poll_interval=timedelta(hours=1), retention=RETENTION
    )
    out: dict[str, float] = {}
    prune_task = None
    if with_prune:
        started = time.perf_counter()
        prune_task = asyncio.create_task(scheduler.prune())
        await asyncio.sleep(0.2)  # the prune is well under way when the sweep starts
    t0 = time.perf_counter()
    reports = await scheduler.sweep()
    out["sweep"] = time.perf_counter() - t0
    out["posts"] = sum(r.posted for r in reports)
    out["duplicates"] = sum(1 for n in chat.deliveries.values() if n > 1)
    if prune_task is not None:
        report = await prune_task
        out["prune"] = time.perf_counter() - started
        out["pruned"] = report.papers if report else 0
        out["batches"] = report.batches if report else 0
    await engine.dispose()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=500_000)
    ap.add_argument("--prune", type=int, default=100_000)
    ap.add_argument("--channels", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="paperbot-bench-retention-") as tmp:
        base = Path(tmp) / "store.db"
        t0 = time.perf_counter()
        asyncio.run(build(base, args.papers, args.prune, args.channels))
        print(
            f"store: {args.papers:,} papers ({args.prune:,} older than the retention, each with "
            f"a ledger row), {args.channels:,} channels x 3 subscriptions, built in "
            f"{time.perf_counter() - t0:.1f} s ({base.stat().st_size / 1e6:.0f} MB)"
        )
        alone_db, busy_db = Path(tmp) / "alone.db", Path(tmp) / "busy.db"
        shutil.copy(base, alone_db)
        shutil.copy(base, busy_db)
        # A first sweep warms the page cache and the matcher's code, then is thrown away.
        asyncio.run(measure(base, with_prune=False))
        base.unlink()
        alone = asyncio.run(measure(alone_db, with_prune=False))
        busy = asyncio.run(measure(busy_db, with_prune=True))
    ratio = busy["sweep"] / alone["sweep"]
    print(f"sweep alone:             {alone['sweep']:.2f} s, {alone['posts']:.0f} posts")
    print(f"sweep during the prune:  {busy['sweep']:.2f} s, {busy['posts']:.0f} posts")
    print(
        f"prune: {busy['pruned']:,.0f} papers in {busy['batches']:.0f} batches, "
        f"{busy['prune']:.1f} s (pausing {PAUSE_S * 1000:.0f} ms between batches)"
    )
    checks = [
        (f"sweep delayed by at most 10%: ratio {ratio:.3f}", ratio <= TARGET),
        (
            f"prune completed: {busy['pruned']:,.0f} of {args.prune:,}",
            busy["pruned"] == args.prune,
        ),
        (
            "same digests, none twice",
            alone["posts"] == busy["posts"] and not alone["duplicates"] + busy["duplicates"],
        ),
    ]
    for label, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {label}")
    return 0 if all(p for _, p in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
