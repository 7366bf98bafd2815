"""The papers repository: one record per paper, merged across sightings; first_seen never moves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.models import Paper
from storage.tables import papers

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


class PaperRepository:
    """Papers in the database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def upsert(
        self, sightings: Iterable[Paper], now: datetime, *, insert_new: bool = True
    ) -> UpsertResult:
        """Store sightings: new papers get first_seen=now; known ones are merged and updated.

        With insert_new=False, only papers already stored are updated (arXiv replacements).
        """
        batch: dict[str, Paper] = {}
        for paper in sightings:
            batch[paper.id] = batch[paper.id].merged_with(paper) if paper.id in batch else paper
        for _attempt in range(3):
            try:
                return await self._upsert(batch, now, insert_new)
            except IntegrityError:  # another replica inserted one of them first: merge again
                continue
        return await self._upsert(batch, now, insert_new)

    async def _upsert(
        self, batch: dict[str, Paper], now: datetime, insert_new: bool
    ) -> UpsertResult:
        new: list[Paper] = []
        updated = 0
        async with self.engine.begin() as conn:
            existing = await self._load(conn, list(batch))
            for pid, seen in batch.items():
                old = existing.get(pid)
                if old is None:
                    if not insert_new:
                        continue
                    paper = replace(seen, first_seen=now)
                    await conn.execute(papers.insert().values(**_values(paper), updated_at=now))
                    new.append(paper)
                    continue
                merged = old.merged_with(seen)
                if merged != old:
                    values = _values(merged)
                    del values["id"], values["first_seen"]
                    await conn.execute(
                        papers.update().where(papers.c.id == pid).values(**values, updated_at=now)
                    )
                    updated += 1
        return UpsertResult(new=new, updated=updated)

    @staticmethod
    async def _load(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, Paper]:
        found: dict[str, Paper] = {}
        for i in range(0, len(ids), _CHUNK):
            rows = await conn.execute(select(papers).where(papers.c.id.in_(ids[i : i + _CHUNK])))
            found.update({row.id: paper_from_row(row) for row in rows})
        return found

    async def get_many(self, ids: Sequence[str]) -> dict[str, Paper]:
        """Stored papers by id (missing ids are left out)."""
        async with self.engine.connect() as conn:
            return await self._load(conn, ids)

    async def seen_between(self, start: datetime | None, end: datetime) -> list[Paper]:
        """Papers first seen in (start, end], oldest first."""
        query = select(papers).where(papers.c.first_seen <= end)
        if start is not None:
            query = query.where(papers.c.first_seen > start)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query.order_by(papers.c.first_seen, papers.c.id))
            return [paper_from_row(row) for row in rows]

    async def count(self) -> int:
        """How many papers are stored."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(papers))).scalar_one())
