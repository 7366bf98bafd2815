"""Retention and feed health: paper_traces, source_urls, channels.notices

paper_traces keeps the canonical id of every paper the retention prune deleted, so a source
re-serving an old item is not announced again. source_urls keeps each feed URL's last success,
last error and failure episode. channels.notices is the opt-in for operational notices. deliveries gets an index on paper_id:
the prune deletes a paper's ledger rows.

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.tables

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_traces",
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("first_seen", storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pruned_at", storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_traces")),
    )
    op.create_table(
        "source_urls",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("last_success_at", storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("noticed_at", storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source", "url", name=op.f("pk_source_urls")),
    )
    op.create_index("ix_deliveries_paper_id", "deliveries", ["paper_id"])
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notices", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_column("notices")
    op.drop_index("ix_deliveries_paper_id", table_name="deliveries")
    op.drop_table("source_urls")
    op.drop_table("paper_traces")
