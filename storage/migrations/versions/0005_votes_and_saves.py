"""votes and saves: what each channel liked, disliked and kept

A vote is one per (channel, user, paper), with the message it was cast on and the paper's text
(it trains the channel's ranking after the paper is pruned). A save is one per (channel, paper).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("paper_id", sa.String(length=300), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=False),
        sa.Column("created_at", storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_votes")),
        sa.UniqueConstraint(
            "channel_id", "user_id", "paper_id", name="uq_votes_channel_user_paper"
        ),
    )
    op.create_index("ix_votes_channel_id", "votes", ["channel_id"], unique=False)
    op.create_table(
        "saves",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.String(length=200), nullable=False),
        sa.Column("paper_id", sa.String(length=300), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=True),
        sa.Column("paper", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saves")),
        sa.UniqueConstraint("channel_id", "paper_id", name="uq_saves_channel_paper"),
    )


def downgrade() -> None:
    op.drop_table("saves")
    op.drop_index("ix_votes_channel_id", table_name="votes")
    op.drop_table("votes")
