"""Requests already accepted, remembered until their window ends: replay protection that every
replica sharing the database sees."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import seen_requests


class SeenRequestRepository:
    """seen_requests rows: one per accepted key, until it expires."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def first_time(self, key: str, until: datetime, now: datetime) -> bool:
        """Record `key` until `until`; False if it is already recorded and not yet expired."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(seen_requests).where(seen_requests.c.expires_at <= now))
        try:
            async with self.engine.begin() as conn:
                await conn.execute(seen_requests.insert().values(key=key, expires_at=until))
        except IntegrityError:  # the primary key: recorded before, by this or another replica
            return False
        return True
