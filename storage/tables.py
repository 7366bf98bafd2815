"""The database schema: papers, channels, subscriptions, deliveries (the ledger), source state,
the traces of pruned papers and each feed URL's health, votes and saved papers."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import TSVECTOR


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if getattr(dialect, "name", "") == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

papers = Table(
    "papers",
    metadata,
    Column("id", String(300), primary_key=True),
    Column("title", Text, nullable=False),
    Column("abstract", Text, nullable=False, default=""),
    Column("authors", JSON, nullable=False, default=list),
    Column("url", Text, nullable=False, default=""),
    Column("pdf_url", Text),
    Column("code_url", Text),
    Column("project_url", Text),
    Column("categories", JSON, nullable=False, default=list),
    Column("upvotes", Integer),
    Column("comments", Integer),
    Column("published", UTCDateTime),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sources", JSON, nullable=False, default=list),
    Column("ai_summary", Text),
    Column("ai_keywords", JSON, nullable=False, default=list),
    Index("ix_papers_first_seen", "first_seen"),
)

# Each paper's index tokens (storage.text_index), kept by the papers repository, in step with
# `papers` (a paper's row goes with it). SQLite indexes `terms` in the FTS5 table `paper_fts`
# (external content, made and kept by triggers of migration 0004); PostgreSQL holds a tsvector
# with a GIN index. `doc` is the index's document number, stable (VACUUM renumbers only rowids
# of tables without an INTEGER PRIMARY KEY); on SQLite it orders documents by first_seen
# (storage.text_index.doc_range, migration 0011); first_seen and upvotes are copied from the paper so
# windows are counted and ranked here, and only the papers shown are read from `papers`.
paper_terms = Table(
    "paper_terms",
    metadata,
    Column("doc", Integer, primary_key=True, autoincrement=True),
    Column(
        "paper_id",
        String(300),
        ForeignKey("papers.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("upvotes", Integer),
    Column("terms", Text().with_variant(TSVECTOR(), "postgresql"), nullable=False),
    Index("ix_paper_terms_first_seen_doc", "first_seen", "doc"),
)

# Every word token (text_index.WORD_LEADS) of every paper ever indexed, once: a wildcard is
# looked up as the words it starts (storage.paper_search). Kept by the papers repository;
# words of pruned papers stay (they only make a wildcard look up a word no window holds).
paper_words = Table(
    "paper_words",
    metadata,
    Column("word", Text().with_variant(Text(collation="C"), "postgresql"), primary_key=True),
    sqlite_with_rowid=False,
)

channels = Table(
    "channels",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("platform", String(20), nullable=False),
    Column("workspace", String(80), nullable=False),
    Column("channel", String(80), nullable=False),
    Column("schedule_at", String(5), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("days", String(32), nullable=False),  # daily, weekdays, off, or a list: mon,thu
    Column("max_items", Integer, nullable=False),
    Column("min_upvotes", Integer, nullable=False),
    Column("threads", Boolean, nullable=False),
    Column("paused", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("inactive_reason", Text),
    Column("last_digest_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("schedule_set_at", UTCDateTime),  # when the schedule was last changed
    # Whether the channel takes operational notices (a feed failing for a day): opt-in.
    Column("notices", Boolean, nullable=False, default=False, server_default=false()),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "channel_id", String(200), ForeignKey("channels.id", ondelete="CASCADE"), nullable=False
    ),
    Column("query", Text, nullable=False),
    Column("canonical", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("channel_id", "canonical", name="uq_subscriptions_channel_canonical"),
)

# The delivery ledger: one row per (channel, paper), ever. Rows of one message share a
# delivery_id; state moves pending -> sending -> sent (or back to pending on a transient error,
# or to rejected when the platform refuses the message even as plain text; requeue undoes that).
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", String(200), nullable=False),
    Column("paper_id", String(300), nullable=False),
    Column("delivery_id", String(40), nullable=False),
    Column("position", Integer, nullable=False),
    Column("page", Integer, nullable=False, default=1),
    Column("pages", Integer, nullable=False, default=1),
    Column("more", Integer, nullable=False, default=0),
    Column("state", String(10), nullable=False),
    Column("message_id", String(100)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("next_attempt_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("channel_id", "paper_id", name="uq_deliveries_channel_paper"),
    Index("ix_deliveries_delivery_id", "delivery_id"),
    Index("ix_deliveries_channel_state", "channel_id", "state"),
    Index("ix_deliveries_paper_id", "paper_id"),  # the prune deletes a paper's rows
)

source_state = Table(
    "source_state",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("cursor", JSON, nullable=False, default=dict),
    Column("last_poll_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_count", Integer, nullable=False, default=0),
    Column("bad_entries", Integer, nullable=False, default=0),
    Column("next_poll_at", UTCDateTime),
)

# Secrets paperbot makes for itself at first start (the key that signs unsubscribe links), so
# every replica and every restart signs with the same one.
secrets = Table(
    "secrets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# What is left of a paper the retention prune deleted: its canonical id, so a source serving the
# item again is not taken for a new paper (never posted twice), and when it was first seen.
paper_traces = Table(
    "paper_traces",
    metadata,
    Column("id", String(300), primary_key=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("pruned_at", UTCDateTime, nullable=False),
)

# The health of each URL a source reads (the feeds of PAPERBOT_FEEDS): a failure episode runs
# from failing_since until the next success; noticed_at marks the episode's one notice.
source_urls = Table(
    "source_urls",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("url", String(1000), primary_key=True),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
    Column("failures", Integer, nullable=False, default=0),
    Column("failing_since", UTCDateTime),
    Column("noticed_at", UTCDateTime),
)

# Signed requests already accepted (Slack's (timestamp, signature), and bodies for its retries),
# kept until their window ends so that a replay is not run twice, by any replica.
seen_requests = Table(
    "seen_requests",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("expires_at", UTCDateTime(timezone=True), nullable=False),
    Index("ix_seen_requests_expires_at", "expires_at"),
)

# Votes: one per (channel, user, paper); value +1 (like) or -1 (dislike). The paper's title and
# abstract are kept with the vote, so it still trains the channel's ranking after the paper
# itself has been pruned from `papers`.
votes = Table(
    "votes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", String(200), nullable=False),
    Column("user_id", String(100), nullable=False),
    Column("paper_id", String(300), nullable=False),
    Column("value", Integer, nullable=False),
    Column("message_id", String(100)),
    Column("title", Text, nullable=False, default=""),
    Column("abstract", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("channel_id", "user_id", "paper_id", name="uq_votes_channel_user_paper"),
    Index("ix_votes_channel_id", "channel_id"),
)

# Saved papers: one per (channel, paper), with who saved it, when, from which message, and the
# paper as it was then (an export still has it after the paper was pruned).
saves = Table(
    "saves",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", String(200), nullable=False),
    Column("paper_id", String(300), nullable=False),
    Column("user_id", String(100), nullable=False),
    Column("message_id", String(100)),
    Column("paper", JSON, nullable=False, default=dict),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("channel_id", "paper_id", name="uq_saves_channel_paper"),
)
