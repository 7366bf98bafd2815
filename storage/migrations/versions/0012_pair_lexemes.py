"""paper_terms (PostgreSQL): pairs of adjacent keys and the day first seen, as lexemes

A phrase was checked by positions, which PostgreSQL reads from each candidate's whole tsvector
(in TOAST); a two-key phrase is now one lexeme that the GIN index decides alone, and a longer
one is narrowed by its pairs before its positions are checked. And a window was found by
first_seen, then every row of it read and its tsvector tested (counting a month's
`"diffusion model"` at 500,000 papers: 188,756 buffers for 41,096 rows, 183 ms); the day a paper was first seen
is now a lexeme, so the GIN index finds the window's matches in one scan
(storage.text_index.tsvector_literal, window_days). Every stored paper's tsvector is written
again; SQLite, whose FTS5 reads positions from its own index and windows by document number,
is left as it is.

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
