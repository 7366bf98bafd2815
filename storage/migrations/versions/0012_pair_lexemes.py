"""paper_terms (PostgreSQL): each two adjacent keys of a field as one more lexeme

A phrase was checked by positions, which PostgreSQL reads from each candidate's whole tsvector
(in TOAST): `search "diffusion model"` read 13,660 buffers for 43 heap blocks at 500,000
papers. A two-key phrase is now one lexeme that the GIN index decides alone, and a longer
one is narrowed by its pairs before its positions are checked
(storage.text_index.tsvector_literal). Every stored paper's tsvector is written again;
SQLite, whose FTS5 reads positions from its own index, is left as it is.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

from storage.migrations.reindex import rewrite_terms

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        rewrite_terms(bind)


def downgrade() -> None:
    """The pair lexemes are harmless to the older code, which never looks them up."""
