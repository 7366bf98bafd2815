"""The retention prune: old papers no channel keeps are deleted in short batches, each leaving
its id behind as a trace (so a source serving it again is not announced again)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from bot.stores import Footprint, PrunedBatch, PrunePlan
from storage.db import is_sqlite, sqlite_path
from storage.papers import PaperRepository
from storage.tables import deliveries, metadata, paper_traces, papers

# Tables whose rows keep their paper (by a `paper_id` column) when they exist: a saved paper
# stays on the reading list, a voted one keeps teaching the channel's ranking.
KEEPING_TABLES = ("saves", "votes")


def _keepers() -> list[ColumnElement[bool]]:
    found = []
    for name in KEEPING_TABLES:
        table = metadata.tables.get(name)
        if table is not None and "paper_id" in table.c:
            found.append(~exists().where(table.c.paper_id == papers.c.id))
    return found


def _old(cutoff: datetime) -> ColumnElement[bool]:
    return papers.c.first_seen < cutoff


def _prunable(cutoff: datetime) -> ColumnElement[bool]:
    """First seen before the cutoff, kept by no table, and with no ledger row still open (a
    page pending, sending or set aside still needs its papers)."""
    settled = ~exists().where(deliveries.c.paper_id == papers.c.id, deliveries.c.state != "sent")
    return and_(_old(cutoff), settled, *_keepers())


class RetentionRepository:
    """Prunes papers through the papers' gate, one short transaction per batch: a batch never
    runs while a poll stores papers or a digest reads its window, and between batches they run."""

    def __init__(self, engine: AsyncEngine, papers_repo: PaperRepository) -> None:
        self.engine = engine
        self._papers = papers_repo

    async def plan(self, cutoff: datetime) -> PrunePlan:
        """What a prune at `cutoff` would delete (a dry run)."""
        prunable = select(papers.c.id).where(_prunable(cutoff)).subquery()
        async with self.engine.connect() as conn:
            n = await conn.scalar(select(func.count()).select_from(prunable))
            rows = await conn.scalar(
                select(func.count())
                .select_from(deliveries)
                .where(deliveries.c.paper_id.in_(select(prunable.c.id)))
            )
            old = await conn.scalar(select(func.count()).select_from(papers).where(_old(cutoff)))
        return PrunePlan(
            papers=int(n or 0), ledger_rows=int(rows or 0), kept=int(old or 0) - int(n or 0)
        )

    async def prune_batch(self, cutoff: datetime, limit: int, now: datetime) -> PrunedBatch:
        """Delete up to `limit` of the oldest prunable papers with their ledger rows, and trace
        them, in one transaction."""
        async with self._papers.gated() as conn:
            picked = (
                select(papers.c.id)
                .where(_prunable(cutoff))
                .order_by(papers.c.first_seen)
                .limit(limit)
            )
            ids = [r.id for r in await conn.execute(picked)]
            if not ids:
                return PrunedBatch(0, 0)
            # The conditions again in the delete: a save made since the pick keeps its paper.
            gone = list(
                await conn.execute(
                    delete(papers)
                    .where(papers.c.id.in_(ids), _prunable(cutoff))
                    .returning(papers.c.id, papers.c.first_seen)
                )
            )
            if not gone:
                return PrunedBatch(0, 0)
            await conn.execute(
                _insert_ignore(conn.dialect.name),
                [{"id": r.id, "first_seen": r.first_seen, "pruned_at": now} for r in gone],
            )
            ledger = await conn.execute(
                delete(deliveries).where(deliveries.c.paper_id.in_([r.id for r in gone]))
            )
            await self._papers.tidy_index(conn)
            return PrunedBatch(len(gone), int(ledger.rowcount or 0))

    async def footprint(self) -> Footprint:
        """The database's size on disk, its oldest paper, and how many traces it keeps."""
        async with self.engine.connect() as conn:
            oldest = (
                await conn.execute(
                    select(papers.c.id, papers.c.first_seen)
                    .order_by(papers.c.first_seen, papers.c.id)
                    .limit(1)
                )
            ).first()
            traces = await conn.scalar(select(func.count()).select_from(paper_traces))
            size = None
            if not is_sqlite(self.engine):
                size = await conn.scalar(text("SELECT pg_database_size(current_database())"))
        if is_sqlite(self.engine):
            size = _sqlite_size(self.engine)
        return Footprint(
            size_bytes=int(size) if size is not None else None,
            oldest_id=oldest.id if oldest else None,
            oldest_first_seen=oldest.first_seen if oldest else None,
            traces=int(traces or 0),
        )


def _insert_ignore(dialect: str) -> Any:
    """An insert of traces that leaves an id already traced as it is."""
    if dialect == "postgresql":
        return postgresql.insert(paper_traces).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(paper_traces).on_conflict_do_nothing()
    return insert(paper_traces)


def _sqlite_size(engine: AsyncEngine) -> int | None:
    """The SQLite file with its write-ahead log (what the database holds on disk)."""
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is None:
        return None
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists())
