"""Calls made at once, gathered into one trip to the database (group commit).

A sweep serves 16 channels at a time, and each one's ledger writes and channel read are tiny:
the trip (a transaction, and on SQLite several hand-overs to aiosqlite's thread) costs far more
than the statement. Calls that arrive while a trip is under way wait and go together in the
next one, so a quiet bot pays nothing and a busy one pays a trip per batch, not per call.

Each caller still gets its own outcome: a call returns once its own write is committed, and if
a batch fails, each of its calls is tried alone, so one channel's error stays that channel's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BATCH_LIMIT = 64  # calls per trip: a 10-item page is ~11 rows, so 700 rows at most


class Batched(Generic[T, R]):
    """`await batched(item)` runs `run([item, ...])` with the items of every call waiting at
    the time; `run` returns one result per item, in order.

    A call cancelled before its trip starts is left out of it; one cancelled during its trip
    may still be carried out, as any database call cut off midway may be.
    """

    def __init__(
        self, run: Callable[[Sequence[T]], Awaitable[Sequence[R]]], limit: int = BATCH_LIMIT
    ) -> None:
        self._run = run
        self._limit = limit
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._trips: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        if self._trips is None or self._trips.done() or self._trips.get_loop() is not loop:
            self._waiting = [w for w in self._waiting if w[1].get_loop() is loop]
            self._trips = loop.create_task(self._drain())
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((item, future))
        return await future

    async def _drain(self) -> None:
        """Trips until nobody waits: each takes the calls that came during the last one."""
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._waiting:
                batch = [w for w in self._waiting[: self._limit] if not w[1].done()]
                del self._waiting[: self._limit]
                if batch:
                    await self._trip(batch)
        finally:  # cancelled (the loop shutting down): nobody is left waiting for ever
            for _, future in (*batch, *self._waiting):
                if not future.done():
                    future.cancel()

    async def _trip(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            for item, future in batch:  # alone, so that one call's failure is its own
                try:
                    (result,) = await self._run([item])
                except Exception as alone:
                    _settle(future, alone)
                else:
                    _settle(future, result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: asyncio.Future[R], outcome: R | Exception) -> None:
    if future.done():  # its caller was cancelled meanwhile
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
