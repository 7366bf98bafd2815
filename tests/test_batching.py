"""Group commit: calls made at once share a trip, and each keeps its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from storage.batching import Batched


class Trips:
    """A `run` that records each trip's items; a trip waits at `gate` while it is closed."""

    def __init__(self) -> None:
        self.trips: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()  # a trip has begun

    async def run(self, items: Sequence[str]) -> list[str]:
        self.trips.append(list(items))
        self.started.set()
        await self.gate.wait()
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]

    async def under_way(self, batched: Batched[str, str], item: str) -> asyncio.Future[str]:
        """A call whose trip has begun and waits at the closed gate."""
        self.gate.clear()
        call = asyncio.ensure_future(batched(item))
        await self.started.wait()
        return call


async def test_calls_made_during_a_trip_go_together_in_the_next():
    trips = Trips()
    batched = Batched(trips.run)
    first = await trips.under_way(batched, "a")
    later = [asyncio.ensure_future(batched(x)) for x in "bcd"]
    await asyncio.sleep(0)
    trips.gate.set()
    assert await asyncio.gather(first, *later) == ["A", "B", "C", "D"]
    assert trips.trips == [["a"], ["b", "c", "d"]]


async def test_a_failing_call_fails_alone_and_the_rest_are_kept():
    trips = Trips()
    batched = Batched(trips.run)
    outcomes = await asyncio.gather(
        batched("a"), batched("bad"), batched("c"), return_exceptions=True
    )
    assert outcomes[0] == "A" and outcomes[2] == "C"
    assert isinstance(outcomes[1], ValueError)
    assert trips.trips == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


async def test_a_call_cancelled_before_its_trip_is_left_out():
    trips = Trips()
    batched = Batched(trips.run)
    first = await trips.under_way(batched, "a")
    dropped, kept = asyncio.ensure_future(batched("b")), asyncio.ensure_future(batched("c"))
    await asyncio.sleep(0)
    dropped.cancel()
    trips.gate.set()
    assert await first == "A" and await kept == "C"
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert trips.trips == [["a"], ["c"]]


async def test_no_more_than_the_limit_go_in_one_trip():
    trips = Trips()
    batched = Batched(trips.run, limit=2)
    assert await asyncio.gather(*(batched(x) for x in "abcde")) == list("ABCDE")
    assert trips.trips == [["a", "b"], ["c", "d"], ["e"]]
