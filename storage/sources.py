"""Each source's polling state: its cursor (ETags...), health and back-off."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.stores import SourceState
from storage.tables import source_state


def _state(row: Any) -> SourceState:
    return SourceState(
        name=row.name,
        cursor=dict(row.cursor or {}),
        last_poll_at=row.last_poll_at,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        failures=row.failures,
        last_count=row.last_count,
        bad_entries=row.bad_entries,
        next_poll_at=row.next_poll_at,
    )


class SourceStateRepository:
    """source_state rows."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, name: str) -> SourceState:
        """The state of a source (a blank one if it never polled)."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(source_state).where(source_state.c.name == name))
            ).first()
        return _state(row) if row else SourceState(name=name)

    async def all(self) -> list[SourceState]:
        """Every source that has polled."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(source_state).order_by(source_state.c.name))
            return [_state(r) for r in rows]

    async def save(self, state: SourceState) -> None:
        """Store a source's state."""
        values = {
            "cursor": dict(state.cursor),
            "last_poll_at": state.last_poll_at,
            "last_success_at": state.last_success_at,
            "last_error": state.last_error,
            "last_error_at": state.last_error_at,
            "failures": state.failures,
            "last_count": state.last_count,
            "bad_entries": state.bad_entries,
            "next_poll_at": state.next_poll_at,
        }
        async with self.engine.begin() as conn:
            result = await conn.execute(
                source_state.update().where(source_state.c.name == state.name).values(**values)
            )
            if result.rowcount:
                return
        try:
            async with self.engine.begin() as conn:
                await conn.execute(source_state.insert().values(name=state.name, **values))
        except IntegrityError:
            async with self.engine.begin() as conn:
                await conn.execute(
                    source_state.update().where(source_state.c.name == state.name).values(**values)
                )
