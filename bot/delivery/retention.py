"""Keeping the database healthy: old papers that no channel keeps are pruned, in short batches
with pauses between them, so digests and polls go on meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.ports import Clock
from bot.stores import RetentionStore

log = logging.getLogger(__name__)

BATCH = 500  # papers per transaction: a few milliseconds of the papers' gate
PAUSE_S = 0.02  # between batches: what is queued for the database (a digest, a poll) goes first
PRUNE_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class PruneReport:
    """What a prune did (or, dry, would do)."""

    cutoff: datetime
    papers: int
    ledger_rows: int
    batches: int = 0
    kept: int | None = None  # old papers kept (saved, voted on, being delivered): dry runs
    dry_run: bool = False


async def prune(
    store: RetentionStore,
    retention: timedelta,
    clock: Clock,
    *,
    batch: int = BATCH,
    pause: float = PAUSE_S,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    idle: Callable[[], Awaitable[object]] | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Delete the papers first seen more than `retention` ago that no channel keeps, with their
    ledger rows, `batch` at a time; each leaves a trace so it is never announced again.

    `idle` is awaited before each batch: the bot's scheduler makes the prune give way to
    digests being delivered (on SQLite they share one connection)."""
    if batch < 1:
        raise ValueError("a prune's batch holds at least one paper")
    cutoff = clock() - retention
    if dry_run:
        plan = await store.plan(cutoff)
        return PruneReport(cutoff, plan.papers, plan.ledger_rows, kept=plan.kept, dry_run=True)
    papers = rows = batches = 0
    while True:
        if idle is not None:
            await idle()
        done = await store.prune_batch(cutoff, batch, clock())
        if done.papers:
            batches += 1
            papers += done.papers
            rows += done.ledger_rows
        if done.papers < batch:
            break
        await sleep(pause)
    if papers:
        log.info(
            "pruned %d papers first seen before %s (%d ledger rows) in %d batches",
            papers,
            f"{cutoff:%Y-%m-%d %H:%M} UTC",
            rows,
            batches,
        )
    return PruneReport(cutoff, papers, rows, batches)
