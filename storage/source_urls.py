"""The health of each feed URL: last answer, last error, and the current failure episode."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.stores import UrlHealth
from storage.tables import source_urls


def _health(row: Any) -> UrlHealth:
    return UrlHealth(
        source=row.source,
        url=row.url,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        failures=row.failures,
        failing_since=row.failing_since,
        noticed_at=row.noticed_at,
    )


class SourceUrlRepository:
    """source_urls rows, one per (source, URL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(
        self, source: str, outcomes: Mapping[str, str | None], now: datetime
    ) -> list[UrlHealth]:
        """Take in one poll's outcomes (None: answered, else the error); returns the new states.

        An answer ends the failure episode (and so re-arms its notice); a failure starts one
        or carries it on."""
        for _attempt in range(3):
            try:
                return await self._record(source, outcomes, now)
            except IntegrityError:  # another replica added the same URL first: read it again
                continue
        return await self._record(source, outcomes, now)

    async def _record(
        self, source: str, outcomes: Mapping[str, str | None], now: datetime
    ) -> list[UrlHealth]:
        out = []
        async with self.engine.begin() as conn:
            rows = await conn.execute(
                select(source_urls).where(
                    source_urls.c.source == source, source_urls.c.url.in_(list(outcomes))
                )
            )
            known = {row.url: _health(row) for row in rows}
            for url, error in outcomes.items():
                old = known.get(url) or UrlHealth(source=source, url=url)
                if error is None:
                    values: dict[str, Any] = {
                        "last_success_at": now,
                        "failures": 0,
                        "failing_since": None,
                        "noticed_at": None,
                    }
                else:
                    values = {
                        "last_error": error[:500],
                        "last_error_at": now,
                        "failures": old.failures + 1,
                        "failing_since": old.failing_since or now,
                    }
                if url in known:
                    await conn.execute(
                        update(source_urls)
                        .where(source_urls.c.source == source, source_urls.c.url == url)
                        .values(**values)
                    )
                else:
                    await conn.execute(
                        source_urls.insert().values(source=source, url=url, **values)
                    )
                out.append(replace(old, **values))
        return out

    async def all(self) -> list[UrlHealth]:
        """Every URL ever recorded, by source and URL."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(source_urls).order_by(source_urls.c.source, source_urls.c.url)
            )
            return [_health(row) for row in rows]

    async def claim_notice(
        self, source: str, url: str, failing_before: datetime, now: datetime
    ) -> bool:
        """Mark the URL's current episode as noticed, if it began before `failing_before` and
        no one noticed it yet: True for the one caller (of any replica) that should post."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(source_urls)
                .where(
                    source_urls.c.source == source,
                    source_urls.c.url == url,
                    source_urls.c.failing_since <= failing_before,
                    source_urls.c.noticed_at.is_(None),
                )
                .values(noticed_at=now)
            )
            return (result.rowcount or 0) > 0
