"""What migrations that change the index tokens share: every stored paper's tokens written again."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.models import Paper
from storage.text_index import WORD_LEADS, postgres_terms, sqlite_terms

_BATCH = 2000


def aware(value: object) -> datetime:
    """A stored datetime as an aware UTC one (SQLite keeps text without a zone)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def items(value: object) -> tuple[str, ...]:
    """A stored JSON list (text on SQLite) as a tuple."""
    return tuple(json.loads(value) if isinstance(value, str) else value or ())


def rewrite_terms(bind: Connection) -> None:
    """Write every stored paper's index tokens again (storage.text_index), in batches by
    document number, so a year of papers never sits in memory: the FTS5 table follows by its
    update trigger on SQLite; PostgreSQL's GIN index is built again at the end."""
    sqlite = bind.dialect.name == "sqlite"
    update = sa.text(
        "UPDATE paper_terms SET terms = "
        + (":terms" if sqlite else "CAST(:terms AS tsvector)")
        + " WHERE doc = :doc"
    )
    if not sqlite:  # built again once at the end (50,000 papers: 46 s, against 66 s row by row)
        bind.execute(sa.text("DROP INDEX IF EXISTS ix_paper_terms_terms"))
    last: int | None = None
    while True:
        after = "" if last is None else "WHERE d.doc > :last "
        rows = bind.execute(
            sa.text(
                "SELECT d.doc, d.first_seen, p.title, p.abstract, p.authors, p.categories "
                "FROM paper_terms d "
                f"JOIN papers p ON p.id = d.paper_id {after}ORDER BY d.doc LIMIT :n"
            ),
            {"last": last, "n": _BATCH},
        ).fetchall()
        if not rows:
            break
        batch = []
        for row in rows:
            paper = Paper(
                id="",
                title=row.title,
                abstract=row.abstract or "",
                authors=items(row.authors),
                url="",
                categories=items(row.categories),
            )
            tokens = sqlite_terms(paper) if sqlite else postgres_terms(paper, aware(row.first_seen))
            batch.append({"doc": row.doc, "terms": tokens})
        bind.execute(update, batch)
        last = rows[-1].doc
    if not sqlite:
        bind.execute(sa.text("CREATE INDEX ix_paper_terms_terms ON paper_terms USING gin (terms)"))


def fill_words(bind: Connection) -> None:
    """Fill the vocabulary of wildcards (paper_words) from the words the index holds."""
    leads = ", ".join(f"'{lead}'" for lead in sorted(WORD_LEADS))
    if bind.dialect.name != "sqlite":
        bind.execute(
            sa.text(
                "INSERT INTO paper_words (word) SELECT DISTINCT u.lexeme FROM paper_terms d "
                f"CROSS JOIN LATERAL unnest(d.terms) AS u WHERE left(u.lexeme, 1) IN ({leads}) "
                "ON CONFLICT DO NOTHING"
            )
        )
        return
    bind.execute(
        sa.text("CREATE VIRTUAL TABLE temp.paper_vocab USING fts5vocab(main, paper_fts, row)")
    )
    bind.execute(
        sa.text(
            "INSERT OR IGNORE INTO paper_words (word) SELECT term FROM temp.paper_vocab "
            f"WHERE substr(term, 1, 1) IN ({leads})"
        )
    )
    bind.execute(sa.text("DROP TABLE temp.paper_vocab"))
