"""channels.schedule_set_at: when the channel's schedule was last changed

A slot of the new schedule that had already passed when it was set is not owed: moving the
time back from 09:00 to 08:30 at 09:30 posts the next digest tomorrow, not a second one now.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("schedule_set_at", storage.tables.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_column("schedule_set_at")
