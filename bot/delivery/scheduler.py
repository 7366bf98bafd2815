"""Wakes things up on time: source polls at their interval, channel digests at their schedule.

The scheduler holds no truth of its own: whether a digest is due is read from the database
(the channel's last digest against its latest scheduled slot), so a restart, a missed slot or a
second replica never posts twice, and a schedule changed by a command applies at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bot.delivery.pipeline import NoChatForPlatform, Pipeline, PollReport, Round
from bot.delivery.posting import DeliveryReport
from bot.delivery.retention import PRUNE_EVERY, PruneReport, prune
from bot.delivery.schedules import cron_days, next_slot, previous_slot
from bot.models import Channel, ChannelRef, Days
from bot.ports import Timer

log = logging.getLogger(__name__)

CONCURRENCY = 16  # channels served at once; storage's pool is sized for it
STOP_GRACE_S = 10.0
PRUNE_DELAY = timedelta(
    minutes=10
)  # the first prune waits for start-up's sweep and polls  # how long a stop waits for running jobs before it cancels them

T = TypeVar("T")


def _job(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Mark a scheduler method as a job: while it runs, `stop` knows to wait for it."""

    @functools.wraps(method)  # the timer names the job after it in its logs
    async def run(self: Scheduler, *args: Any) -> T:
        task = asyncio.current_task()
        mine = task is not None and task not in self._jobs
        if mine:
            self._jobs.add(task)  # type: ignore[arg-type]
        try:
            return await method(self, *args)
        finally:
            if mine:
                self._jobs.discard(task)  # type: ignore[arg-type]

    return run


def due_slot(channel: Channel, now: datetime) -> datetime | None:
    """The scheduled slot this channel still owes a digest for, if any (missed ones coalesce)."""
    if not channel.active or channel.paused or channel.schedule.days is Days.OFF:
        return None
    slot = previous_slot(channel.schedule, now)
    if slot is None:
        return None
    # Served: a digest since the slot, or the channel (or its new schedule) is younger than it.
    served = (channel.last_digest_at or channel.created_at, channel.schedule_set_at)
    return None if any(t is not None and t >= slot for t in served) else slot


class Scheduler:
    """The timer's jobs that call into the pipeline."""

    def __init__(
        self,
        pipeline: Pipeline,
        timer: Timer,
        *,
        poll_interval: timedelta,
        sweep_every: timedelta = timedelta(minutes=1),
        concurrency: int = CONCURRENCY,
        retention: timedelta | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.sweep_every = sweep_every
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.timer = timer
        self.retention = retention  # None: papers are kept for ever
        self._sweeping = asyncio.Lock()
        self._jobs: set[asyncio.Task[Any]] = set()  # jobs running now
        self._delivering = 0  # digest jobs running now; the prune waits for none
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def _delivery(self) -> Iterator[None]:
        """A digest job runs: the prune gives way until none does."""
        self._delivering += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._delivering -= 1
            if not self._delivering:
                self._idle.set()

    async def start(self) -> None:
        """Schedule polls, every channel's digest and the sweep; run a first sweep at once."""
        now = self.pipeline.clock()
        for name in self.pipeline.sources:
            self.timer.every(
                f"poll:{name}", self.poll_interval, self.poll, name, first_at=now, catch_up=True
            )
        self.timer.every("sweep", self.sweep_every, self.sweep, first_at=now)
        if self.retention is not None:
            # Soon after start (a bot restarted daily still prunes), then daily.
            self.timer.every("prune", PRUNE_EVERY, self.prune, first_at=now + PRUNE_DELAY)
        for channel in await self.pipeline.stores.channels.all():
            self.reschedule(channel)
        self.timer.start()

    async def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Stop waking things up, and give the jobs running now `grace` seconds to finish before
        cancelling them, so none is cut off mid-way when the bot is stopped (a cancelled
        delivery is safe: its pages stay in the ledger and the next start reconciles them)."""
        self.timer.pause()
        running = {task for task in self._jobs if task is not asyncio.current_task()}
        if running:
            log.info("waiting up to %.0f s for %d running job(s)", grace, len(running))
            _, late = await asyncio.wait(running, timeout=grace) if grace > 0 else ((), running)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self.timer.shutdown()

    @_job
    async def poll(self, name: str) -> PollReport:
        """Poll one source (the pipeline stores what is new)."""
        return await self.pipeline.poll(name)

    @_job
    async def prune(self) -> PruneReport | None:
        """Prune the papers older than the retention that no channel keeps (daily)."""
        if self.retention is None:
            return None
        try:
            return await prune(
                self.pipeline.stores.retention,
                self.retention,
                self.pipeline.clock,
                idle=self._idle.wait,
            )
        except Exception:  # tomorrow's run tries again; the bot goes on
            log.exception("the retention prune failed")
            return None

    def reschedule(self, channel: Channel) -> None:
        """(Re)create the channel's digest job from its current schedule."""
        job_id = f"digest:{channel.ref}"
        self.timer.remove(job_id)
        schedule = channel.schedule
        if schedule.days is Days.OFF:
            return
        self.timer.at(
            job_id, schedule.at, cron_days(schedule), schedule.timezone, self.run_due, channel.ref
        )

    async def on_channel_change(self, channel: Channel) -> None:
        """A command changed a channel: its schedule applies at once."""
        self.reschedule(channel)

    @_job
    async def run_due(self, ref: ChannelRef) -> DeliveryReport | None:
        """Post the channel's digest if a slot is owed (the database decides)."""
        channel = await self.pipeline.stores.channels.get(ref)
        if channel is None:
            return None
        slot = due_slot(channel, self.pipeline.clock())
        if slot is None:
            return None
        try:
            with self._delivery():
                return await self.pipeline.run_slot(ref, slot)
        except NoChatForPlatform as exc:
            log.warning("digest for %s skipped: %s", ref, exc)
            return None

    @_job
    async def sweep(self) -> list[DeliveryReport]:
        """Catch up: owed digests (one per channel however many slots were missed) and open
        pages whose retry time has come, for many channels at once.

        The papers of the widest window are read and matched once for the whole round; channels
        are then served concurrently, at most `concurrency` at a time.
        """
        if self._sweeping.locked():
            return []
        async with self._sweeping:
            with self._delivery():
                return await self._sweep()

    async def _sweep(self) -> list[DeliveryReport]:
        now = self.pipeline.clock()
        await self.pipeline.sync_subscriptions()
        unsent = await self.pipeline.stores.deliveries.channels_with_open_pages()
        due: list[tuple[Channel, datetime]] = []
        retry: list[Channel] = []
        for channel in await self.pipeline.stores.channels.all():
            if channel.ref.platform not in self.pipeline.chats:
                continue
            slot = due_slot(channel, now)
            if slot is not None:
                due.append((channel, slot))
            elif channel.active and not channel.paused and str(channel.ref) in unsent:
                retry.append(channel)
        round = Round(self.pipeline.book.round([]), now, unsent)  # retries only
        if due:
            start = min(self.pipeline.window_start(c, now) for c, _ in due)
            papers, read_at = await self.pipeline.stores.papers.seen_since(
                start, self.pipeline.clock
            )
            # Votes read once for the round, and the features fitted once (if any channel has
            # votes), not per channel.
            votes = await self.pipeline.stores.votes.by_channel()
            if votes:
                await self.pipeline.ranking.refresh()
            round = Round(
                self.pipeline.match(papers),
                read_at,
                unsent,
                await self.pipeline.stores.deliveries.delivered_by_channel([p.id for p in papers]),
                votes,
            )
        jobs: list[tuple[Channel, datetime | None]] = [*due, *((c, None) for c in retry)]
        turns = iter(enumerate(jobs))
        reports: list[DeliveryReport | None] = [None] * len(jobs)  # in the order of `jobs`

        async def serve() -> None:
            # `concurrency` of these take the channels in turn: a task per channel at once
            # would hold 10,000 of them waiting, in memory, for a turn.
            for i, (channel, slot) in turns:
                try:
                    if slot is None:
                        report = await self.pipeline.flush(channel.ref)
                    else:
                        report = await self.pipeline.run_in_round(channel.ref, slot, round)
                except Exception:  # one channel's trouble never stops the others
                    log.exception("sweep of %s failed", channel.ref)
                    continue
                reports[i] = report

        await asyncio.gather(*(serve() for _ in range(self.concurrency)))
        return [r for r in reports if r is not None]

    def next_run(self, channel: Channel) -> datetime | None:
        """When the channel's next digest is due."""
        if channel.paused or not channel.active:
            return None
        return next_slot(channel.schedule, self.pipeline.clock())
