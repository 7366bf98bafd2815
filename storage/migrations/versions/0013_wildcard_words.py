"""paper_words: every indexed word once, so a wildcard is looked up as the words it starts

SQLite's FTS5 reads every document of every word a prefix starts, whatever the window: at
500,000 papers, counting a month's `diffus*` took 19.5 ms as a prefix and 1.0 ms as its words. PostgreSQL's planner
cannot tell how many papers a prefix finds and filtered the window row by row (311 ms). The
repository adds each paper's words here as it indexes it (storage.paper_search), and a
wildcard starting at most 64 of them becomes those words. Filled here from the index.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migrations.reindex import fill_words

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_words",
        sa.Column(
            "word",
            sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
            primary_key=True,
        ),
        sa.PrimaryKeyConstraint("word", name="pk_paper_words"),
        sqlite_with_rowid=False,
    )
    fill_words(op.get_bind())


def downgrade() -> None:
    op.drop_table("paper_words")
