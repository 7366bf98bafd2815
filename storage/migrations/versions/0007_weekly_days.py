"""channels.days holds a list of weekdays too: String(10) -> String(32)

A weekly schedule stores its days as names, `mon` or `mon,thu` (all seven with commas are 27
characters), beside `daily`, `weekdays` and `off`.

Revision ID: 0007
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.alter_column(
            "days", existing_type=sa.String(10), type_=sa.String(32), existing_nullable=False
        )


def downgrade() -> None:
    # A weekly channel's days do not fit the old column: they go back to daily.
    op.execute("UPDATE channels SET days = 'daily' WHERE days NOT IN ('daily', 'weekdays', 'off')")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.alter_column(
            "days", existing_type=sa.String(32), type_=sa.String(10), existing_nullable=False
        )
