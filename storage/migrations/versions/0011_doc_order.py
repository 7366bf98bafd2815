"""paper_terms (SQLite): document numbers in first_seen order, so a window is a range of them

A paper's FTS5 document number becomes its first_seen's millisecond shifted left, plus its
place in that millisecond (storage.text_index.doc_range): FTS5 then counts a window's matches
alone instead of each being joined to paper_terms, and no query looks up where the window's
documents begin. Every row is renumbered and the FTS5 index rebuilt; PostgreSQL, which finds
a window by first_seen, is left as it is.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migrations.reindex import aware
from storage.text_index import TIE_BITS, doc_millisecond

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_BATCH = 5000
_ASIDE = 1 << 62  # above every new number: old numbers are moved here first, so none collide


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    bind.execute(sa.text("UPDATE paper_terms SET doc = doc + :aside"), {"aside": _ASIDE})
    rows = sorted(
        (aware(row.first_seen), row.doc)
        for row in bind.execute(sa.text("SELECT doc, first_seen FROM paper_terms"))
    )
    update = sa.text("UPDATE paper_terms SET doc = :new WHERE doc = :old")
    batch: list[dict[str, int]] = []
    last, place = None, 0
    for first_seen, doc in rows:
        millisecond = doc_millisecond(first_seen)
        place = place + 1 if millisecond == last else 0
        last = millisecond
        batch.append({"old": doc, "new": (millisecond << TIE_BITS) + place})
        if len(batch) >= _BATCH:
            bind.execute(update, batch)
            batch.clear()
    if batch:
        bind.execute(update, batch)
    op.execute("INSERT INTO paper_fts(paper_fts) VALUES ('rebuild')")


def downgrade() -> None:
    """The older code numbers new documents after the largest: these numbers serve it as well."""
