"""paper_terms: each field's distinct words indexed too, so a lone wildcard is decided exactly

`diffus*` starts a word, not a key (keys are plural-folded), so the index could only give a
superset for it, which the evaluator then read paper by paper. Every stored paper's tokens
are written again here (storage.text_index.paper_tokens): the FTS5 table follows by its
update trigger on SQLite, the GIN index on PostgreSQL.

Revision ID: 0009
Revises: 0005
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from bot.models import Paper
from storage.text_index import postgres_terms, sqlite_terms

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 2000


def _list(value: object) -> tuple[str, ...]:
    return tuple(json.loads(value) if isinstance(value, str) else value or ())


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    terms = sqlite_terms if sqlite else postgres_terms
    update = sa.text(
        "UPDATE paper_terms SET terms = "
        + (":terms" if sqlite else "CAST(:terms AS tsvector)")
        + " WHERE doc = :doc"
    )
    last = -1
    while True:  # in batches by document number: a year of papers never sits in memory
        rows = bind.execute(
            sa.text(
                "SELECT d.doc, p.title, p.abstract, p.authors, p.categories FROM paper_terms d "
                "JOIN papers p ON p.id = d.paper_id WHERE d.doc > :last ORDER BY d.doc LIMIT :n"
            ),
            {"last": last, "n": _BATCH},
        ).fetchall()
        if not rows:
            break
        batch = []
        for row in rows:
            paper = Paper(
                id="",
                title=row.title,
                abstract=row.abstract or "",
                authors=_list(row.authors),
                url="",
                categories=_list(row.categories),
            )
            batch.append({"doc": row.doc, "terms": terms(paper)})
        bind.execute(update, batch)
        last = rows[-1].doc


def downgrade() -> None:
    """The extra word tokens are harmless to the older code, which never looks them up."""
