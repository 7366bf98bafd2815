"""The delivery ledger: which papers went (or are going) to which channel, in which message."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.models import ChannelRef
from bot.stores import LedgerPage
from storage.batching import Batched
from storage.tables import channels, deliveries

_CHUNK = 500
# The statements every delivery runs, built once (building one costs more than running it).
_SET_LAST_DIGEST = (
    update(channels)
    .where(channels.c.id == bindparam("b_channel"))
    .values(last_digest_at=bindparam("b_at"))
)
_CLAIM = (
    update(deliveries)
    .where(deliveries.c.delivery_id == bindparam("b_delivery"), deliveries.c.state == "pending")
    .values(state="sending", attempts=deliveries.c.attempts + 1, next_attempt_at=bindparam("b_at"))
)
_MARK_SENT = (
    update(deliveries)
    .where(deliveries.c.delivery_id == bindparam("b_delivery"))
    .values(
        state="sent", message_id=bindparam("b_message"), sent_at=bindparam("b_at"), last_error=None
    )
)
_OPEN = ("pending", "sending")  # not yet posted; `sent` and `rejected` are settled


class _Recorded(NamedTuple):
    """A digest's pages to write, and where its channel's window moves (record)."""

    ref: ChannelRef
    pages: Sequence[LedgerPage]
    digest_at: datetime
    now: datetime


class _Sent(NamedTuple):
    """A page posted (mark_sent)."""

    delivery_id: str
    message_id: str
    at: datetime


class DeliveryRepository:
    """Rows unique on (channel, paper); the rows of one message share a delivery_id."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Every digest writes its pages before posting and marks them sent after: these
        # writes, made at once by the channels a sweep serves together, share a transaction.
        self._write = Batched(self._write_many)

    async def delivered_ids(self, ref: ChannelRef, paper_ids: Sequence[str]) -> set[str]:
        """Which of these papers already have a ledger row for the channel (in any state)."""
        found: set[str] = set()
        async with self.engine.connect() as conn:
            for i in range(0, len(paper_ids), _CHUNK):
                rows = await conn.execute(
                    select(deliveries.c.paper_id).where(
                        deliveries.c.channel_id == str(ref),
                        deliveries.c.paper_id.in_(paper_ids[i : i + _CHUNK]),
                    )
                )
                found.update(r.paper_id for r in rows)
        return found

    async def papers_on_message(self, ref: ChannelRef, message_id: str) -> list[str]:
        """The papers the channel's digest message `message_id` carries, in its order."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(deliveries.c.paper_id)
                .where(deliveries.c.channel_id == str(ref), deliveries.c.message_id == message_id)
                .order_by(deliveries.c.position)
            )
            return [r.paper_id for r in rows]

    async def delivered_by_channel(self, paper_ids: Sequence[str]) -> dict[str, set[str]]:
        """For these papers, which channels already have them in the ledger: channel id ->
        paper ids (for a round over many channels at once)."""
        found: dict[str, set[str]] = defaultdict(set)
        async with self.engine.connect() as conn:
            for i in range(0, len(paper_ids), _CHUNK):
                rows = await conn.execute(
                    select(deliveries.c.channel_id, deliveries.c.paper_id).where(
                        deliveries.c.paper_id.in_(paper_ids[i : i + _CHUNK])
                    )
                )
                for channel_id, paper_id in rows:
                    found[channel_id].add(paper_id)
        return dict(found)

    async def record(
        self, ref: ChannelRef, pages: Sequence[LedgerPage], digest_at: datetime, now: datetime
    ) -> None:
        """Write a digest's pages and move the channel's window, atomically.

        Pages are written in their own state: `pending`, or `sending` for one the caller is
        about to post (claimed in the same transaction). Digests recorded at once share a
        transaction (see storage.batching); each returns when its own is committed.
        """
        await self._write(_Recorded(ref, pages, digest_at, now))

    async def _write_many(self, writes: Sequence[_Recorded | _Sent]) -> list[None]:
        recorded = [w for w in writes if isinstance(w, _Recorded)]
        rows = [
            {
                "channel_id": str(w.ref),
                "paper_id": pid,
                "delivery_id": page.delivery_id,
                "position": pos,
                "page": page.page,
                "pages": page.pages,
                "more": page.more,
                "state": page.state,
                "attempts": 1 if page.state == "sending" else 0,
                "next_attempt_at": w.now if page.state == "sending" else None,
                "created_at": w.now,
            }
            for w in recorded
            for page in w.pages
            for pos, pid in enumerate(page.paper_ids)
        ]
        sent = [
            {"b_delivery": w.delivery_id, "b_message": w.message_id, "b_at": w.at}
            for w in writes
            if isinstance(w, _Sent)
        ]
        async with self.engine.begin() as conn:
            if rows:
                await conn.execute(deliveries.insert(), rows)
            if recorded:
                moved = [{"b_channel": str(w.ref), "b_at": w.digest_at} for w in recorded]
                await conn.execute(_SET_LAST_DIGEST, moved)
            if sent:
                await conn.execute(_MARK_SENT, sent)
        return [None] * len(writes)

    async def open_pages(self, ref: ChannelRef, now: datetime | None = None) -> list[LedgerPage]:
        """The channel's pages not yet sent, pending or sending (outcome unknown), that are due
        at `now` (all of them when `now` is None), oldest first."""
        cond = [deliveries.c.channel_id == str(ref), deliveries.c.state.in_(_OPEN)]
        if now is not None:
            cond.append(
                or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now)
            )
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(deliveries).where(and_(*cond)).order_by(deliveries.c.id)
            )
            pages: dict[str, list] = {}
            for row in rows:
                pages.setdefault(row.delivery_id, []).append(row)
        out = []
        for did, items in pages.items():
            items.sort(key=lambda r: r.position)
            first = items[0]
            out.append(
                LedgerPage(
                    delivery_id=did,
                    paper_ids=tuple(r.paper_id for r in items),
                    page=first.page,
                    pages=first.pages,
                    more=first.more,
                    state=first.state,
                    attempts=first.attempts,
                    due_at=first.next_attempt_at,
                )
            )
        return out

    async def claim(self, delivery_id: str, now: datetime) -> bool:
        """Move a pending page to sending; False if someone else has it or it is done."""
        async with self.engine.begin() as conn:
            result = await conn.execute(_CLAIM, {"b_delivery": delivery_id, "b_at": now})
            return (result.rowcount or 0) > 0

    async def mark_sent(self, delivery_id: str, message_id: str, now: datetime) -> None:
        """The page is in the channel (written with the other ledger writes made at once)."""
        await self._write(_Sent(delivery_id, message_id, now))

    async def release(self, delivery_id: str, error: str, retry_at: datetime | None) -> None:
        """Back to pending after a failure, to be tried again at `retry_at` (None: next round)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.delivery_id == delivery_id, deliveries.c.state != "sent")
                .values(state="pending", last_error=error[:500], next_attempt_at=retry_at)
            )

    async def reject(self, delivery_id: str, error: str) -> None:
        """Set a page aside that the platform refused to post (see requeue)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.delivery_id == delivery_id, deliveries.c.state != "sent")
                .values(state="rejected", last_error=error[:500], next_attempt_at=None)
            )

    async def requeue(self, ref: ChannelRef | None = None) -> tuple[int, int]:
        """Put the pages set aside (of one channel, or all) back to pending, to be posted on the
        next sweep: (pages, papers)."""
        cond = [deliveries.c.state == "rejected"]
        if ref is not None:
            cond.append(deliveries.c.channel_id == str(ref))
        async with self.engine.begin() as conn:
            pages = await conn.scalar(
                select(func.count(func.distinct(deliveries.c.delivery_id))).where(*cond)
            )
            result = await conn.execute(
                update(deliveries)
                .where(*cond)
                .values(state="pending", attempts=0, next_attempt_at=None)
            )
            return int(pages or 0), int(result.rowcount or 0)

    async def defer(self, delivery_id: str, error: str, retry_at: datetime) -> None:
        """Keep a page whose post may have landed as sending (to be looked up before it is
        posted again), not before `retry_at`."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.delivery_id == delivery_id, deliveries.c.state == "sending")
                .values(last_error=error[:500], next_attempt_at=retry_at)
            )

    async def counts(self) -> dict[str, dict[str, int]]:
        """Per channel id, how many rows are in each state."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(deliveries.c.channel_id, deliveries.c.state, func.count()).group_by(
                    deliveries.c.channel_id, deliveries.c.state
                )
            )
            out: dict[str, dict[str, int]] = defaultdict(dict)
            for channel_id, state, n in rows:
                out[channel_id][state] = int(n)
            return dict(out)

    async def set_aside(self) -> dict[str, str]:
        """Per channel id with pages set aside, why the platform refused the latest of them."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(deliveries.c.channel_id, deliveries.c.last_error)
                .where(deliveries.c.state == "rejected")
                .order_by(deliveries.c.id)
            )
            return {channel_id: error or "" for channel_id, error in rows}

    async def channels_with_open_pages(self) -> set[str]:
        """Channel ids with pages not yet sent (pending or sending)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(deliveries.c.channel_id).where(deliveries.c.state.in_(_OPEN)).distinct()
            )
            return {r.channel_id for r in rows}
