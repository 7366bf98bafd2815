"""paper_terms: each field's distinct words indexed too, so a lone wildcard is decided exactly

`diffus*` starts a word, not a key (keys are plural-folded), so the index could only give a
superset for it, which the evaluator then read paper by paper. Every stored paper's tokens
are written again here (storage.text_index.paper_tokens): the FTS5 table follows by its
update trigger on SQLite, the GIN index on PostgreSQL.

Revision ID: 0009
Revises: 0005
"""

from __future__ import annotations

from alembic import op

from storage.migrations.reindex import rewrite_terms

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rewrite_terms(op.get_bind())


def downgrade() -> None:
    """The extra word tokens are harmless to the older code, which never looks them up."""
