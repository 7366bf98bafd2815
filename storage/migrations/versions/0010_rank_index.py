"""paper_terms: an index in digest order (upvotes, newest, id), so a search's best ten are found
by walking it instead of sorting every match of the window

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NAME = "ix_paper_terms_rank"


def upgrade() -> None:
    order_id = "paper_id" if op.get_bind().dialect.name == "sqlite" else 'paper_id COLLATE "C"'
    op.execute(
        f"CREATE INDEX {NAME} ON paper_terms "
        f"((coalesce(upvotes, 0)) DESC, first_seen DESC, {order_id})"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {NAME}")
