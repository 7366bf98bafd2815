"""paper_terms: each paper's index tokens, searched by FTS5 (SQLite) or a GIN tsvector (PostgreSQL)

Search, subscribe's preview and the like find their candidates through it instead of reading
every paper of their window (see storage.text_index). Existing papers are indexed here.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.tables
from bot.models import Paper
from storage.migrations.reindex import aware, items
from storage.text_index import postgres_terms, sqlite_terms

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BATCH = 2000

# External-content FTS5 over paper_terms.terms, kept in step by triggers (the documented
# pattern); a paper deleted from `papers` takes its tokens with it even without foreign keys on.
SQLITE_DDL = (
    "CREATE VIRTUAL TABLE paper_fts USING fts5("
    "terms, content='paper_terms', content_rowid='doc', tokenize='ascii')",
    "CREATE TRIGGER paper_terms_ai AFTER INSERT ON paper_terms BEGIN "
    "INSERT INTO paper_fts(rowid, terms) VALUES (new.doc, new.terms); END",
    "CREATE TRIGGER paper_terms_ad AFTER DELETE ON paper_terms BEGIN "
    "INSERT INTO paper_fts(paper_fts, rowid, terms) VALUES ('delete', old.doc, old.terms); END",
    "CREATE TRIGGER paper_terms_au AFTER UPDATE OF terms ON paper_terms BEGIN "
    "INSERT INTO paper_fts(paper_fts, rowid, terms) VALUES ('delete', old.doc, old.terms); "
    "INSERT INTO paper_fts(rowid, terms) VALUES (new.doc, new.terms); END",
    "CREATE TRIGGER papers_ad_terms AFTER DELETE ON papers BEGIN "
    "DELETE FROM paper_terms WHERE paper_id = old.id; END",
)


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.create_table(
        "paper_terms",
        sa.Column("doc", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "paper_id",
            sa.String(300),
            sa.ForeignKey("papers.id", ondelete="CASCADE", name="fk_paper_terms_paper_id"),
            nullable=False,
        ),
        sa.Column("first_seen", storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("upvotes", sa.Integer()),
        sa.Column(
            "terms",
            sa.Text().with_variant(sa.dialects.postgresql.TSVECTOR(), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("doc", name="pk_paper_terms"),
        sa.UniqueConstraint("paper_id", name="uq_paper_terms_paper_id"),
    )
    op.create_index("ix_paper_terms_first_seen_doc", "paper_terms", ["first_seen", "doc"])
    if sqlite:
        for statement in SQLITE_DDL:
            op.execute(statement)
    else:
        op.execute("CREATE INDEX ix_paper_terms_terms ON paper_terms USING gin (terms)")
    terms = sqlite_terms if sqlite else postgres_terms
    insert = sa.text(
        "INSERT INTO paper_terms (paper_id, first_seen, upvotes, terms) VALUES "
        + ("(:id, :seen, :up, :terms)" if sqlite else "(:id, :seen, :up, CAST(:terms AS tsvector))")
    )
    rows = bind.execute(
        sa.text(
            "SELECT id, title, abstract, authors, categories, upvotes, first_seen FROM papers "
            "ORDER BY first_seen, id"
        )
    ).fetchall()
    for i in range(0, len(rows), _BATCH):
        batch = []
        for row in rows[i : i + _BATCH]:
            paper = Paper(
                id=row.id,
                title=row.title,
                abstract=row.abstract or "",
                authors=items(row.authors),
                url="",
                categories=items(row.categories),
            )
            seen = aware(row.first_seen)
            batch.append(
                {
                    "id": row.id,
                    "seen": seen.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
                    if sqlite
                    else seen,
                    "up": row.upvotes,
                    "terms": terms(paper),
                }
            )
        bind.execute(insert, batch)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("papers_ad_terms", "paper_terms_au", "paper_terms_ad", "paper_terms_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS paper_fts")
    op.drop_table("paper_terms")
