"""Group commit: calls made at once share a trip, and each keeps its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from storage.batching import Batched


class Trips:
    """A `run` that records each trip's items; a trip waits for `gate` while it is open."""

    def __init__(self) -> None:
        self.trips: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def run(self, items: Sequence[str]) -> list[str]:
        self.trips.append(list(items))
        await self.gate.wait()
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]


async def test_calls_made_during_a_trip_go_together_in_the_next():
    trips = Trips()
    batched = Batched(trips.run)
    trips.gate.clear()
    first = asyncio.ensure_future(batched("a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the first trip is under way, waiting at the gate
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
    trips.gate.clear()
    first = asyncio.ensure_future(batched("a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
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
