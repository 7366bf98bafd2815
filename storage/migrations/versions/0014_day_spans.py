"""paper_terms (PostgreSQL): the aligned spans of 2 to 64 days a paper was first seen in, as
lexemes

A window was looked up as an OR of its days' lexemes (0012), which the GIN index merges item by
item across every entry: a month's `diffus*` at 500,000 papers took 11.3 ms in the index with
its 31 days, and 4.0 ms with the 5 spans that cover them (storage.text_index.day_lexemes,
window_days). The six span lexemes are added to every stored paper's tsvector in SQL, and the
GIN index is built again; SQLite, which windows by document number, is left as it is.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# As storage.text_index.day_lexemes writes them (levels 1 to SPAN_LEVELS): 'y<level>n<number>',
# the number of 2**level-day spans since 1970-01-01 before the paper's UTC day.
# tests/test_paper_index.py checks a migrated tsvector against the one the repository writes.
_SPANS = (
    "array_to_tsvector(ARRAY(SELECT 'y' || level || 'n' || "
    "(floor(extract(epoch FROM first_seen) / 86400)::bigint >> level) "
    "FROM generate_series(1, 6) AS level))"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    # Built again once at the end: updating it row by row costs more than building it.
    op.execute("DROP INDEX IF EXISTS ix_paper_terms_terms")
    op.execute(f"UPDATE paper_terms SET terms = terms || {_SPANS}")
    op.execute("CREATE INDEX ix_paper_terms_terms ON paper_terms USING gin (terms)")


def downgrade() -> None:
    """The span lexemes are harmless to the older code, which never looks them up."""
