"""Secrets paperbot generates once and keeps in the database, the same for every replica."""

from __future__ import annotations

import secrets as _random
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import secrets


async def stored_secret(engine: AsyncEngine, name: str) -> str:
    """The secret called `name`, made (32 random bytes, URL-safe) and stored on first use; a
    replica that loses the race to store it reads the winner's."""
    async with engine.connect() as conn:
        found = await conn.scalar(select(secrets.c.value).where(secrets.c.name == name))
    if found:
        return str(found)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(secrets).values(
                    name=name, value=_random.token_urlsafe(32), created_at=datetime.now(UTC)
                )
            )
    except IntegrityError:
        pass  # another process stored it first
    async with engine.connect() as conn:
        return str(await conn.scalar(select(secrets.c.value).where(secrets.c.name == name)))
