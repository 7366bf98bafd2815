"""paper_words (SQLite): every indexed word once, so a wildcard is looked up as the words it starts

FTS5 reads every document of every word a prefix starts, whatever the window: `search diffus*`
took 50 ms at 500,000 papers where a word takes 2. The repository adds each paper's words here
as it indexes it (storage.paper_search), and a wildcard starting at most 64 of them becomes
those words, whose documents FTS5 seeks within the window. Filled here from the FTS5 index.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

from storage.migrations.reindex import fill_words

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("CREATE TABLE paper_words (word TEXT PRIMARY KEY) WITHOUT ROWID")
        fill_words(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE paper_words")
