"""paper_terms (PostgreSQL): the GIN index takes each new paper into the index itself, not into
its pending list (fastupdate off), and the papers waiting there are moved in

With fastupdate on, PostgreSQL's default, the papers a poll inserts wait in the index's pending
list until a vacuum, or until it holds gin_pending_list_limit (4 MB, some 4,000 papers), and
every look-up reads the whole list: after a day's poll of 1,400 papers through the repository,
a month's `search "diffusion model"` at 50,000 stored took 413 ms (median of 100 in the
command), against 9.8 ms before the poll and 7.5 ms after it with fastupdate off. Inserting
into the index at once costs the poll about 3 ms a paper more (12.5 s against 8.6 s for those
1,400, in batches of 20). SQLite's FTS5 has no such list.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

NAME = "ix_paper_terms_terms"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(f"ALTER INDEX {NAME} SET (fastupdate = off)")
    op.execute(f"SELECT gin_clean_pending_list('{NAME}')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(f"ALTER INDEX {NAME} RESET (fastupdate)")
