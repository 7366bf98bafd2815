"""Channels and their subscriptions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.models import (
    WEEKDAY_NAMES,
    Channel,
    ChannelRef,
    ChannelSettings,
    Days,
    Schedule,
    Subscription,
)
from bot.stores import DuplicateSubscription
from storage.batching import Batched
from storage.tables import channels, subscriptions


def channel_from_row(row: Any) -> Channel:
    """A stored row as the core's Channel."""
    hour, minute = (int(x) for x in row.schedule_at.split(":"))
    return Channel(
        ref=ChannelRef(row.platform, row.workspace, row.channel),
        schedule=Schedule(at=time(hour, minute), timezone=row.timezone, **_days(row.days)),
        settings=ChannelSettings(
            max_items=row.max_items,
            min_upvotes=row.min_upvotes,
            threads=bool(row.threads),
            notices=bool(row.notices),
        ),
        paused=bool(row.paused),
        active=bool(row.active),
        last_digest_at=row.last_digest_at,
        created_at=row.created_at,
        schedule_set_at=row.schedule_set_at,
    )


def _days(stored: str) -> dict[str, Any]:
    """The stored `days` column as Schedule fields: `daily`, `weekdays`, `off`, or a weekly
    schedule's day names, `mon,thu`."""
    if stored in (Days.DAILY, Days.WEEKDAYS, Days.OFF):
        return {"days": Days(stored)}
    on = frozenset(WEEKDAY_NAMES.index(name) for name in stored.split(","))
    return {"days": Days.WEEKLY, "on": on}


def _subscription(row: Any, refs: dict[str, ChannelRef], words: dict[str, str]) -> Subscription:
    """A stored row as a Subscription; `refs` and `words` hold each channel and query text
    once for a whole read (the matcher holds every subscription: a ChannelRef and a string
    per row otherwise)."""
    ref = refs.get(row.channel_id)
    if ref is None:
        ref = refs[row.channel_id] = ChannelRef.parse(row.channel_id)
    canonical = words.setdefault(row.canonical, row.canonical)
    return Subscription(
        id=row.id,
        channel=ref,
        query=words.setdefault(row.query, row.query),
        canonical=canonical,
        created_at=row.created_at,
    )


def _channel_values(channel: Channel) -> dict[str, Any]:
    return {
        "schedule_at": f"{channel.schedule.at:%H:%M}",
        "timezone": channel.schedule.timezone,
        "days": channel.schedule.day_list
        if channel.schedule.days is Days.WEEKLY
        else channel.schedule.days.value,
        "max_items": channel.settings.max_items,
        "min_upvotes": channel.settings.min_upvotes,
        "threads": channel.settings.threads,
        "notices": channel.settings.notices,
        "paused": channel.paused,
        "active": channel.active,
        "schedule_set_at": channel.schedule_set_at,
    }


# Read for every digest: built once (building a statement costs more than running it).
_GET_CHANNELS = select(channels).where(channels.c.id.in_(bindparam("b_ids", expanding=True)))


class ChannelRepository:
    """Channels, their settings and subscriptions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Every digest reads its channel: those read at once are read in one query.
        self._get = Batched(self._get_many)

    async def get(self, ref: ChannelRef) -> Channel | None:
        """The channel, or None if it was never seen."""
        return await self._get(ref)

    async def _get_many(self, refs: Sequence[ChannelRef]) -> list[Channel | None]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(_GET_CHANNELS, {"b_ids": sorted({str(r) for r in refs})})
            found = {row.id: channel_from_row(row) for row in rows}
        return [found.get(str(ref)) for ref in refs]

    async def ensure(self, ref: ChannelRef, default: Schedule, now: datetime) -> Channel:
        """The channel, created with the default schedule on first use."""
        found = await self.get(ref)
        if found:
            return found
        fresh = Channel(ref=ref, schedule=default, created_at=now)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    channels.insert().values(
                        id=str(ref),
                        platform=ref.platform,
                        workspace=ref.workspace,
                        channel=ref.channel,
                        created_at=now,
                        **_channel_values(fresh),
                    )
                )
        except IntegrityError:  # created concurrently
            pass
        got = await self.get(ref)
        assert got is not None
        return got

    async def save(self, channel: Channel, before: Channel | None = None) -> None:
        """Store the channel's schedule, settings and flags (reactivating clears the reason).

        With `before` (the channel as read before the change), only what differs is written:
        two commands at once in one channel (`pause` and `settings max=5`), or a command and
        the bot marking the channel inactive, each keep the other's change.
        """
        values = _channel_values(channel)
        if before is not None:
            old = _channel_values(before)
            values = {k: v for k, v in values.items() if old[k] != v}
            if not values:
                return
        if values.get("active"):
            values["inactive_reason"] = None
        async with self.engine.begin() as conn:
            await conn.execute(
                update(channels).where(channels.c.id == str(channel.ref)).values(**values)
            )

    async def set_inactive(self, ref: ChannelRef, reason: str) -> None:
        """Stop posting to a channel the bot can no longer reach."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(channels)
                .where(channels.c.id == str(ref))
                .values(active=False, inactive_reason=reason)
            )

    async def inactive_reason(self, ref: ChannelRef) -> str | None:
        """Why a channel was marked inactive."""
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    select(channels.c.inactive_reason).where(channels.c.id == str(ref))
                )
            ).scalar()

    async def all(self) -> list[Channel]:
        """Every channel."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(channels).order_by(channels.c.id))
            return [channel_from_row(row) for row in rows]

    async def subscribe(
        self, ref: ChannelRef, query: str, canonical: str, now: datetime
    ) -> Subscription:
        """Add a subscription; raises DuplicateSubscription if the channel has it already."""
        for existing in await self.subscriptions(ref):
            if existing.canonical == canonical:
                raise DuplicateSubscription(existing)
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    subscriptions.insert().values(
                        channel_id=str(ref), query=query, canonical=canonical, created_at=now
                    )
                )
                sid = result.inserted_primary_key[0]
        except IntegrityError:
            for existing in await self.subscriptions(ref):
                if existing.canonical == canonical:
                    raise DuplicateSubscription(existing) from None
            raise
        return Subscription(id=sid, channel=ref, query=query, canonical=canonical, created_at=now)

    async def subscriptions(self, ref: ChannelRef) -> list[Subscription]:
        """The channel's subscriptions, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(subscriptions)
                .where(subscriptions.c.channel_id == str(ref))
                .order_by(subscriptions.c.id)
            )
            refs: dict[str, ChannelRef] = {}
            words: dict[str, str] = {}
            return [_subscription(row, refs, words) for row in rows]

    async def all_subscriptions(self) -> list[Subscription]:
        """Every subscription of every channel."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(subscriptions).order_by(subscriptions.c.id))
            refs: dict[str, ChannelRef] = {}
            words: dict[str, str] = {}
            return [_subscription(row, refs, words) for row in rows]

    async def unsubscribe(self, ref: ChannelRef, ids: list[int]) -> int:
        """Remove the channel's subscriptions with these ids; returns how many went."""
        if not ids:
            return 0
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(subscriptions).where(
                    subscriptions.c.channel_id == str(ref), subscriptions.c.id.in_(ids)
                )
            )
            return result.rowcount or 0
