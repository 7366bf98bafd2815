"""The papers repository: one record per paper, merged across sightings; first_seen never moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.models import Paper
from bot.ports import Clock
from storage.db import is_sqlite
from storage.paper_search import COLUMNS, PaperSearch, read_papers
from storage.tables import paper_traces, papers

_CHUNK = 500


def paper_from_row(row: Any) -> Paper:
    """A stored row as the core's Paper."""
    return Paper(
        id=row.id,
        title=row.title,
        abstract=row.abstract or "",
        authors=tuple(row.authors or ()),
        url=row.url or "",
        pdf_url=row.pdf_url,
        code_url=row.code_url,
        project_url=row.project_url,
        categories=tuple(row.categories or ()),
        upvotes=row.upvotes,
        comments=row.comments,
        published=row.published,
        first_seen=row.first_seen,
        sources=tuple(row.sources or ()),
        ai_summary=row.ai_summary,
        ai_keywords=tuple(row.ai_keywords or ()),
    )


def _values(paper: Paper) -> dict[str, Any]:
    return {
        "id": paper.id,
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": list(paper.authors),
        "url": paper.url,
        "pdf_url": paper.pdf_url,
        "code_url": paper.code_url,
        "project_url": paper.project_url,
        "categories": list(paper.categories),
        "upvotes": paper.upvotes,
        "comments": paper.comments,
        "published": paper.published,
        "first_seen": paper.first_seen,
        "sources": list(paper.sources),
        "ai_summary": paper.ai_summary,
        "ai_keywords": list(paper.ai_keywords),
    }


@dataclass(frozen=True)
class UpsertResult:
    """What storing a batch of sightings did."""

    new: list[Paper]
    updated: int


# The advisory lock that orders storing new papers and reading a digest's window on PostgreSQL.
_STORE_GATE = 0x7061_7065_7273  # "papers"


class PaperRepository(PaperSearch):
    """Papers in the database.

    Storing new papers and reading a digest's window pass one gate, and both take the time
    inside it: a paper stamped before a window's end was committed before that window was read
    (a paper still being written when a digest read the store fell behind its window for good).
    The gate is an asyncio.Lock on SQLite (one process) and an advisory transaction lock on
    PostgreSQL (every replica).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._local = asyncio.Lock() if is_sqlite(engine) else None

    @asynccontextmanager
    async def gated(self) -> AsyncIterator[AsyncConnection]:
        """A transaction holding the gate."""
        if self._local is not None:
            async with self._local, self.engine.begin() as conn:
                yield conn
            return
        async with self.engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _STORE_GATE})
            yield conn

    async def upsert(
        self,
        sightings: Iterable[Paper],
        now: datetime | Clock,
        *,
        insert_new: bool = True,
    ) -> UpsertResult:
        """Store sightings: new papers get first_seen=now; known ones are merged and updated;
        a paper the retention prune deleted (its id traced) counts as seen: never new again.

        `now` may be a clock, read inside the gate (see the class): what a poll passes.
        With insert_new=False, only papers already stored are updated (arXiv replacements).
        """
        batch: dict[str, Paper] = {}
        for paper in sightings:
            batch[paper.id] = batch[paper.id].merged_with(paper) if paper.id in batch else paper
        clock = now if callable(now) else lambda: now
        for _attempt in range(3):
            try:
                return await self._upsert(batch, clock, insert_new)
            except IntegrityError:  # another replica inserted one of them first: merge again
                continue
        return await self._upsert(batch, clock, insert_new)

    async def _upsert(
        self, batch: dict[str, Paper], clock: Clock, insert_new: bool
    ) -> UpsertResult:
        new: list[Paper] = []
        updated = 0
        async with self.gated() as conn:
            now = clock()
            existing = await self._load(conn, list(batch))
            unknown = [pid for pid in batch if pid not in existing]
            traced = await self._traced(conn, unknown) if insert_new and unknown else set()
            for pid, seen in batch.items():
                old = existing.get(pid)
                if old is None:
                    if not insert_new or pid in traced:
                        continue
                    paper = replace(seen, first_seen=now)
                    await conn.execute(papers.insert().values(**_values(paper), updated_at=now))
                    await self._index(conn, paper, now)
                    new.append(paper)
                    continue
                merged = old.merged_with(seen)
                if merged != old:
                    values = _values(merged)
                    del values["id"], values["first_seen"]
                    await conn.execute(
                        papers.update().where(papers.c.id == pid).values(**values, updated_at=now)
                    )
                    await self._reindex(conn, old, merged)
                    updated += 1
            if new or updated:
                await self.tidy_index(conn)
        return UpsertResult(new=new, updated=updated)

    @staticmethod
    async def _load(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, Paper]:
        found: dict[str, Paper] = {}
        for i in range(0, len(ids), _CHUNK):
            rows = await conn.execute(select(papers).where(papers.c.id.in_(ids[i : i + _CHUNK])))
            found.update({row.id: paper_from_row(row) for row in rows})
        return found

    @staticmethod
    async def _traced(conn: AsyncConnection, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), _CHUNK):
            rows = await conn.execute(
                select(paper_traces.c.id).where(paper_traces.c.id.in_(ids[i : i + _CHUNK]))
            )
            found.update(row.id for row in rows)
        return found

    async def get_many(self, ids: Sequence[str]) -> dict[str, Paper]:
        """Stored papers by id (missing ids are left out)."""
        async with self.engine.connect() as conn:
            return await self._load(conn, ids)

    async def seen_between(self, start: datetime | None, end: datetime) -> list[Paper]:
        """Papers first seen in (start, end], oldest first."""
        async with self.engine.connect() as conn:
            return await self._between(conn, start, end)

    async def seen_since(
        self, start: datetime | None, clock: Clock
    ) -> tuple[list[Paper], datetime]:
        """Papers first seen after `start` until now, oldest first, and that now: read inside
        the gate, so no paper stamped before it is still being written (a digest's window)."""
        async with self.gated() as conn:
            end = clock()
            return await self._between(conn, start, end), end

    @staticmethod
    async def _between(conn: AsyncConnection, start: datetime | None, end: datetime) -> list[Paper]:
        after = "" if start is None else " AND first_seen > :start"
        sql = (
            f"SELECT {COLUMNS} FROM papers WHERE first_seen <= :end{after} ORDER BY first_seen, id"
        )
        params: dict[str, Any] = {"end": end} if start is None else {"end": end, "start": start}
        return await read_papers(conn, sql, params)

    async def count(self) -> int:
        """How many papers are stored."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(papers))).scalar_one())
