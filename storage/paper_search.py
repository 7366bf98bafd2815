"""Reading stored papers fast: a query window's matches through the text index, ranked and
counted in the database; rows turned into papers off the event loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, cast, func, select, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.models import ChannelRef, Paper
from bot.query.language import Query
from bot.stores import PaperText
from storage.tables import UTCDateTime, paper_terms
from storage.text_index import (
    WORD_LEADS,
    Expr,
    Params,
    PostgresRenderer,
    SqliteRenderer,
    Translation,
    both,
    doc_range,
    either,
    expand,
    paper_tokens,
    simplify,
    translate,
    tsvector_literal,
    window_days,
    window_parts,
    word_prefixes,
)

_CHUNK = 500
TEXT_PAGE = 2_000  # papers read at a time for the ranking's features
WILDCARD_WORDS = 64  # a wildcard starting more stored words than this is looked up as a prefix
REMEMBER_WORDS = {  # by whether the backend is SQLite: one statement a paper, its words in one value
    True: "INSERT OR IGNORE INTO paper_words (word) SELECT value FROM json_each(:words)",
    False: "INSERT INTO paper_words (word) SELECT unnest(CAST(:words AS text[])) "
    "ON CONFLICT DO NOTHING",
}
WALK_FROM = 500  # matches in the window from which the best are found by walking the rank index
PROBE_ROWS = 256  # papers walked asking about each before looking every match up instead
PROBE_TERMS = 16  # terms of a query asked a paper at a time, at most
MERGE_PAGES = 200  # of FTS5 merge work after each write, at most (23 ms for a day's 24 polls)
COLUMNS = (
    "id, title, abstract, authors, url, pdf_url, code_url, project_url, categories, upvotes, "
    "comments, published, first_seen, sources, ai_summary, ai_keywords"
)


class Window(NamedTuple):
    """A window's conditions on paper_terms `d`: to look its matches up, to walk the rank index
    through them, and as disjoint parts whose matches are counted apart."""

    lookup: str
    walk: str
    parts: tuple[str, ...]


@dataclass(frozen=True)
class Ranked:
    """A query's matches in a window, as the database ranked them: how many, and the best."""

    total: int
    ids: list[str]  # the best `limit`, best first (digest order: title, upvotes, newest, id)


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _items(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(json.loads(value) if isinstance(value, str) else value)


def paper_from_raw(row: Any) -> Paper:
    """A row of COLUMNS as read without SQLAlchemy's type processing, as a Paper."""
    return Paper(
        id=row[0],
        title=row[1],
        abstract=row[2] or "",
        authors=_items(row[3]),
        url=row[4] or "",
        pdf_url=row[5],
        code_url=row[6],
        project_url=row[7],
        categories=_items(row[8]),
        upvotes=row[9],
        comments=row[10],
        published=_when(row[11]),
        first_seen=_when(row[12]),
        sources=_items(row[13]),
        ai_summary=row[14],
        ai_keywords=_items(row[15]),
    )


async def read_papers(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> list[Paper]:
    """Papers selected by `sql` (over COLUMNS), made into Papers in a worker thread: a month
    of rows takes long enough to hold up every other command on the event loop."""
    statement = text(sql).bindparams(
        *(bindparam(k, type_=UTCDateTime()) for k, v in params.items() if isinstance(v, datetime))
    )
    rows = (await conn.execute(statement, params)).all()
    if len(rows) < 50:
        return [paper_from_raw(row) for row in rows]
    return await asyncio.to_thread(lambda: [paper_from_raw(row) for row in rows])


class PaperSearch:
    """The read side of the papers repository (mixed into PaperRepository)."""

    engine: AsyncEngine

    @property
    def _sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def _terms(self, paper: Paper, first_seen: datetime | None) -> tuple[Any, list[str]]:
        """The paper's index tokens as the backend stores them, and its words."""
        tokens = list(paper_tokens(paper))
        words = sorted({token for token in tokens if token[0] in WORD_LEADS})
        if self._sqlite:
            return " ".join(tokens), words
        return cast(tsvector_literal(tokens, first_seen), TSVECTOR), words

    async def _remember(self, conn: AsyncConnection, words: list[str]) -> None:
        """Add words to the vocabulary that wildcards are looked up in (paper_words), sorted
        so that two writers never wait on each other's."""
        if words:
            value = json.dumps(words) if self._sqlite else words
            await conn.execute(text(REMEMBER_WORDS[self._sqlite]), {"words": value})

    async def _reindex(self, conn: AsyncConnection, old: Paper, new: Paper) -> None:
        """Keep a paper's tokens and copied columns in step with its merged record."""
        values: dict[str, Any] = {"upvotes": new.upvotes}
        if (old.title, old.abstract, old.authors, old.categories) != (
            new.title,
            new.abstract,
            new.authors,
            new.categories,
        ):
            values["terms"], words = self._terms(new, old.first_seen)
            await self._remember(conn, words)
        elif old.upvotes == new.upvotes:
            return
        done = await conn.execute(
            paper_terms.update().where(paper_terms.c.paper_id == new.id).values(**values)
        )
        if not done.rowcount and old.first_seen is not None:  # (a row the index never had)
            await self._index(conn, new, old.first_seen)

    async def _index(self, conn: AsyncConnection, paper: Paper, first_seen: datetime) -> None:
        """Index a paper first seen at `first_seen`; on SQLite, under the next free document
        number of its millisecond (doc_range: document order is first_seen order)."""
        terms, words = self._terms(paper, first_seen)
        await self._remember(conn, words)
        values: dict[str, Any] = {
            "paper_id": paper.id,
            "first_seen": first_seen,
            "upvotes": paper.upvotes,
            "terms": terms,
        }
        if self._sqlite:
            lo, lo_inner, _, _ = doc_range(first_seen, first_seen)
            doc = paper_terms.c.doc
            values["doc"] = (
                select(func.coalesce(func.max(doc) + 1, lo))
                .where(doc >= lo, doc < lo_inner)
                .scalar_subquery()
            )
        await conn.execute(paper_terms.insert().values(**values))

    async def tidy_index(self, conn: AsyncConnection) -> None:
        """After a write, on SQLite, merge the small FTS5 segments that writes leave, as far as
        MERGE_PAGES pages of work: left to FTS5's automerge they lag behind, and each is read
        again for every paper a walk asks about (`preview` at 500,000 stored, a day's 24 polls
        unmerged: its walk 6.0 ms, against 3.1 ms merged). PostgreSQL's GIN index has no
        segments (migration 0015 keeps new papers out of its pending list)."""
        if self._sqlite:
            await conn.execute(
                text("INSERT INTO paper_fts(paper_fts, rank) VALUES ('merge', :pages)"),
                {"pages": MERGE_PAGES},
            )

    async def _expanded(self, conn: AsyncConnection, found: Translation) -> Translation:
        """Each lone wildcard as the stored words it starts, where they are few: FTS5 reads
        every document of a prefix's words, whatever the window, and PostgreSQL's planner,
        which cannot tell how many papers a prefix finds, filters the window row by row."""
        prefixes = word_prefixes(found.match) | word_prefixes(found.in_title)
        if not prefixes:
            return found
        words: dict[str, list[str]] = {}
        for prefix in prefixes:
            if prefix[-1] == chr(0x10FFFF):
                continue
            after = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # the first string it does not start
            rows = await conn.execute(
                text("SELECT word FROM paper_words WHERE word >= :p AND word < :q LIMIT :n"),
                {"p": prefix, "q": after, "n": WILDCARD_WORDS + 1},
            )
            started = list(rows.scalars())
            if len(started) <= WILDCARD_WORDS:
                words[prefix] = started
        return Translation(expand(found.match, words), expand(found.in_title, words), found.exact)

    def _where(self, found: Translation, params: Params) -> tuple[str, str]:
        """The SQL conditions of a translated query: its match, and its title flag."""
        renderer = SqliteRenderer(params) if self._sqlite else PostgresRenderer(params)
        return renderer.sql(found.match), renderer.sql(found.in_title)

    def _window(self, start: datetime, end: datetime, params: Params) -> Window:
        """The conditions on paper_terms `d` of the window (start, end], its values bound. On
        SQLite, with the range of its document numbers (doc_range); on PostgreSQL, with its
        days (window_days), which the GIN index looks up with the query."""
        params.values.update(start=start, end=end)
        window = "d.first_seen > :start AND d.first_seen <= :end"
        if self._sqlite:
            lo, lo_inner, hi_inner, hi = doc_range(start, end)
            params.values.update(lo=lo, lo_inner=lo_inner, hi_inner=hi_inner, hi=hi)
            return Window(window, window, (window,))
        days = window_days(start, end)
        if days is None:
            return Window(window, window, (window,))
        days_sql = f"d.terms @@ CAST({params.add(days)} AS tsquery)"
        # PostgreSQL's planner cannot tell how many papers a tsquery finds and would rather
        # scan the window by first_seen, testing each row's tsvector (read whole from TOAST:
        # 300 ms for a month at 500,000 papers): `+ interval '0 s'` keeps it off that index,
        # so the GIN index leads. Walks along the rank index still bound first_seen by it.
        seen = "(d.first_seen + interval '0 s')"
        seen = f"{seen} > :start AND {seen} <= :end"
        lookup, walk = f"{seen} AND {days_sql}", f"{window} AND {days_sql}"
        parts = window_parts(start, end)
        if parts is None:
            return Window(lookup, walk, (lookup,))
        inner, edges = (f"d.terms @@ CAST({params.add(p)} AS tsquery)" for p in parts)
        return Window(lookup, walk, (inner, f"{seen} AND {edges}"))

    async def _count(
        self,
        conn: AsyncConnection,
        found: Translation,
        window: Window,
        rest: str,
        params: Params,
        plain: bool,
    ) -> int:
        """How many papers of the window meet `rest` (its match and what else it keeps). On
        PostgreSQL, the papers of the days wholly inside the window are counted apart from
        those of its first and last days, which alone are checked against first_seen (a month's
        `"diffusion model"` at 500,000: 5.61 ms against 6.45 ms, medians of 20). On SQLite, a
        `plain` query (no condition but its match) that is one FTS5 look-up is counted by FTS5
        alone over the window's inner milliseconds, and its two boundary milliseconds' matches
        checked against first_seen: joining every match to paper_terms took eight times longer
        (14,653 matches at 500,000 papers: 20.3 ms against 2.5 ms). The boundaries' matches are
        looked up by FTS5 too, over each boundary's document numbers, and only they are read
        from paper_terms for first_seen (`+` keeps SQLite off the first_seen index, where it
        would rather read the whole window's entries to find the two milliseconds': 4.4 ms at
        500,000, for none). A poll's papers share a millisecond, and asking FTS5 about each
        boundary paper in turn took 45 ms when a poll's 57 were the window's last millisecond
        (`preview` at 500,000 stored), against 1.8 ms looked up at once."""
        fts = SqliteRenderer(params).fts(found.match) if self._sqlite and plain else None
        if fts is None:
            sql = "SELECT " + " + ".join(
                f"(SELECT count(*) FROM paper_terms d WHERE {part} AND {rest})"
                for part in window.parts
            )
        else:
            query = params.add(fts)

            def matches(what: str, lo: str, hi: str) -> str:  # of documents lo to hi (excluded)
                return (
                    f"SELECT {what} FROM paper_fts WHERE paper_fts MATCH {query} "
                    f"AND rowid >= :{lo} AND rowid < :{hi}"
                )

            sql = (
                f"SELECT ({matches('count(*)', 'lo_inner', 'hi_inner')}) + (SELECT count(*) "
                f"FROM paper_terms d WHERE d.doc IN ({matches('rowid', 'lo', 'lo_inner')} "
                f"UNION ALL {matches('rowid', 'hi_inner', 'hi')}) AND +d.first_seen > :start "
                "AND +d.first_seen <= :end)"
            )
        return (await conn.execute(self._statement(sql), params.values)).scalar_one()

    @staticmethod
    def _statement(sql: str) -> Any:
        """`sql` with the window's bounds bound as UTC datetimes."""
        return text(sql).bindparams(
            bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
        )

    async def ranked(
        self, query: Query, start: datetime, end: datetime, limit: int
    ) -> Ranked | None:
        """The papers first seen in (start, end] that match `query`, counted and ranked by the
        database; None when the index cannot decide the query alone (a phrase with a wildcard)."""
        return await self._ranked(translate(query), start, end, limit, Params(), "")

    async def unposted_ranked(
        self,
        ref: ChannelRef,
        queries: Sequence[Query],
        start: datetime,
        end: datetime,
        limit: int,
        min_upvotes: int = 0,
    ) -> Ranked | None:
        """The channel's next digest as the database counts and ranks it: the papers first
        seen in (start, end] that match any of `queries` (its subscriptions), have at least
        `min_upvotes` (when above 0), and have no row in the channel's ledger; None when the
        index cannot decide one of the queries alone."""
        found = either([translate(query) for query in queries])
        params = Params()
        channel = params.add(str(ref))
        keep = (
            "NOT EXISTS (SELECT 1 FROM deliveries l WHERE l.channel_id = "
            f"{channel} AND l.paper_id = d.paper_id)"
        )
        if min_upvotes > 0:
            keep += f" AND coalesce(d.upvotes, 0) >= {params.add(min_upvotes)}"
        # Counted as the window's matches less those in the ledger, on SQLite: FTS5 counts
        # the matches alone, and the ledger's few are looked up from the channel's rows, where
        # joining every match to its row for the ledger check took 4.8 ms of a day's 954 at
        # 500,000 papers. (With an upvote floor every match's upvotes are read anyway.)
        less = channel if self._sqlite and min_upvotes <= 0 else None
        return await self._ranked(found, start, end, limit, params, keep, less)

    async def _ranked(
        self,
        found: Translation,
        start: datetime,
        end: datetime,
        limit: int,
        params: Params,
        keep: str,
        less: str | None = None,
    ) -> Ranked | None:
        """The papers of the window that `found` matches and that meet `keep` (SQL over
        paper_terms `d`, its values in `params`; "" for none), counted and ranked; None when
        `found` is not exact. With `less` (the placeholder of a channel id), `keep` is no more
        than that channel's ledger, and the count is the matches' less those in its ledger.

        Digest order is title matches first, then upvotes, newest, id. The matches are counted,
        and when there are many, the best are found by walking the index kept in that order
        (ix_paper_terms_rank), title matches then the rest, each walk stopping at `limit`:
        sorting every match of the window grew with the window, not with what is shown.
        """
        if not found.exact:
            return None
        bounds = self._window(start, end, params)
        window = bounds.walk + (f" AND {keep}" if keep else "")
        async with self.engine.connect() as conn:
            found = await self._expanded(conn, found)
            match, in_title = self._where(found, params)
            matched = f"{bounds.lookup} AND ({match})"
            lookup = matched + (f" AND {keep}" if keep else "")
            walk = f"{window} AND ({match})"
            if less is None:
                kept = f"({match})" + (f" AND {keep}" if keep else "")
                total = await self._count(conn, found, bounds, kept, params, plain=not keep)
            else:
                total = await self._count(conn, found, bounds, f"({match})", params, plain=True)
                total -= await self._in_ledger(conn, matched, less, params)
            if not total:
                return Ranked(0, [])
            if total <= WALK_FROM:  # few: sorted at once
                flag = f"CASE WHEN ({in_title}) THEN 1 ELSE 0 END DESC, "
                return Ranked(total, await self._best(conn, lookup, flag, params, limit))
            ids: list[str] = []
            title = both(found.match, found.in_title)
            rest = ("and", (found.match, ("not", found.in_title)))
            for part, where in (
                (title, f"{walk} AND ({in_title})"),
                (rest, f"{walk} AND NOT ({in_title})"),
            ):
                want = limit - len(ids)
                got = await self._probe(conn, keep, part, params, want)
                if got is None:
                    got = await self._best(conn, where, "", params, want, True)
                ids += got
                if len(ids) == limit:
                    break
        return Ranked(total, ids)

    async def _in_ledger(
        self, conn: AsyncConnection, matched: str, channel: str, params: Params
    ) -> int:
        """How many papers meeting `matched` the channel's ledger holds: read from its ledger
        rows (SQLite is told to start there), so it costs the channel's history, which
        retention bounds, and not the window's matches."""
        sql = (
            "SELECT count(*) FROM deliveries l CROSS JOIN paper_terms d "
            f"WHERE l.channel_id = {channel} AND d.paper_id = l.paper_id AND {matched}"
        )
        return (await conn.execute(self._statement(sql), params.values)).scalar_one()

    async def _probe(
        self, conn: AsyncConnection, keep: str, expr: Expr, params: Params, limit: int
    ) -> list[str] | None:
        """The first `limit` papers of the window meeting `keep`, in digest order, that `expr`
        matches, found by walking ix_paper_terms_rank and asking about each paper on the way;
        None when PROBE_ROWS papers held fewer (the caller then walks with every match looked
        up at once), or, on SQLite, FTS5 cannot be asked a paper at a time cheaply (a prefix,
        many terms).

        Looking every match up first cost as much as counting them (14,653 at 500,000 papers
        for `"diffusion model"`: 17.4 ms on SQLite), where one paper in six of the window
        matches it in its title (7,294 of 41,096), so the walk ends within a few dozen (1.6 ms).
        SQLite asks FTS5 about each paper; PostgreSQL tests each one's tsvector (its planner,
        left to choose, looked the title matches up and sorted them: 9.3 ms for `diffus*` at
        500,000, against 0.8 ms walked). The walk is a sub-query whose papers the outer query
        filters in the walk's order, stopping at `limit` (tests/test_paper_index.py checks it
        gives what sorting every match gave)."""
        if self._sqlite:
            fts = SqliteRenderer(params).fts(simplify(expr))
            if fts is None or "*" in fts or fts.count('"') > 2 * PROBE_TERMS:
                return None
            walked = "d.doc, d.paper_id FROM paper_terms d INDEXED BY ix_paper_terms_rank"
            order_id = "d.paper_id"
            match = f"EXISTS (SELECT 1 FROM paper_fts WHERE paper_fts MATCH {params.add(fts)} "
            match += "AND rowid = d.doc)"
        else:  # the planner walks the rank index, first_seen checked in its entries (or, for
            # a window of a few hundred papers, sorts them: it knows how many first_seen finds)
            walked = "d.paper_id, d.upvotes, d.terms FROM paper_terms d"
            order_id = 'd.paper_id COLLATE "C"'
            match = PostgresRenderer(params).sql(simplify(expr))
        window = "d.first_seen > :start AND d.first_seen <= :end" + (f" AND {keep}" if keep else "")
        sql = (
            f"SELECT d.paper_id FROM (SELECT {walked} WHERE {window} ORDER BY "
            f"coalesce(d.upvotes, 0) DESC, d.first_seen DESC, {order_id} LIMIT {PROBE_ROWS}) d "
            f"WHERE {match} LIMIT {int(limit)}"
        )
        rows = (await conn.execute(self._statement(sql), params.values)).scalars().all()
        return list(rows) if len(rows) == limit else None

    async def _best(
        self,
        conn: AsyncConnection,
        where: str,
        first: str,
        params: Params,
        limit: int,
        walk: bool = False,
    ) -> list[str]:
        """Ids of the papers of paper_terms `d` meeting `where`, in digest order after `first`,
        the first `limit`; with `walk`, read along ix_paper_terms_rank (SQLite is told to)."""
        order_id = "d.paper_id" if self._sqlite else 'd.paper_id COLLATE "C"'
        indexed = " INDEXED BY ix_paper_terms_rank" if walk and self._sqlite else ""
        sql = (
            f"SELECT d.paper_id FROM paper_terms d{indexed} WHERE {where} ORDER BY {first}"
            f"coalesce(d.upvotes, 0) DESC, d.first_seen DESC, {order_id} LIMIT {int(limit)}"
        )
        rows = await conn.execute(self._statement(sql), params.values)
        return [row[0] for row in rows]

    async def candidates(self, query: Query, start: datetime, end: datetime) -> list[str]:
        """Ids of the papers first seen in (start, end] that may match `query`: every one that
        does, and (for a wildcard on words) some that the evaluator will turn down."""
        params = Params()
        window = self._window(start, end, params).lookup
        async with self.engine.connect() as conn:
            match, _ = self._where(await self._expanded(conn, translate(query)), params)
            sql = f"SELECT d.paper_id FROM paper_terms d WHERE {window} AND ({match})"
            return list((await conn.execute(self._statement(sql), params.values)).scalars())

    async def load(self, ids: Sequence[str]) -> list[Paper]:
        """Stored papers by id, in no particular order, made into Papers off the event loop."""
        out: list[Paper] = []
        async with self.engine.connect() as conn:
            for i in range(0, len(ids), _CHUNK):
                chunk = list(ids[i : i + _CHUNK])
                names = {f"i{n}": pid for n, pid in enumerate(chunk)}
                marks = ", ".join(f":{name}" for name in names)
                out += await read_papers(
                    conn, f"SELECT {COLUMNS} FROM papers WHERE id IN ({marks})", names
                )
        return out

    async def texts_between(
        self, start: datetime, end: datetime, size: int = TEXT_PAGE
    ) -> AsyncIterator[list[PaperText]]:
        """Id, title and abstract of the papers first seen in (start, end], oldest first,
        `size` at a time: what the ranking's features read, without the rest of each paper,
        and never the whole window at once (a month's texts at 1,000,000 stored are 150 MB).
        Each page is a query of its own, from where the last ended (first_seen, then id)."""
        order_id = "id" if self._sqlite else 'id COLLATE "C"'
        first = (
            "SELECT id, title, coalesce(abstract, ''), first_seen FROM papers "
            "WHERE first_seen > :start AND first_seen <= :end "
        )
        after = f"AND (first_seen > :seen OR (first_seen = :seen AND {order_id} > :id)) "
        page = f"ORDER BY first_seen, {order_id} LIMIT :size"
        params: dict[str, object] = {"start": start, "end": end, "size": size}
        sql = first + page
        while True:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(self._statement(sql), params)).all()
            if not rows:
                return
            yield [PaperText(pid, title, abstract) for pid, title, abstract, _ in rows]
            if len(rows) < size:
                return
            params["id"], params["seen"] = rows[-1][0], rows[-1][3]
            sql = first + after + page

    async def most_upvoted(
        self, source: str, start: datetime, end: datetime, limit: int
    ) -> list[Paper]:
        """The `limit` most upvoted papers first seen in (start, end] that `source` sighted
        (ties by id), ranked by the database: only those shown are read whole.

        On SQLite the window's papers are walked in upvote order along ix_paper_terms_rank
        (upvote by upvote, each level's papers sorted by id), stopping at `limit`: sorting the
        whole window grew with it (2,055 papers in 36 hours at 500,000 stored, every one a
        Hugging Face paper: 3.7 ms against 0.4 ms). PostgreSQL has no skip scan to walk it
        by window, so its planner picks."""
        if self._sqlite:
            has = "EXISTS (SELECT 1 FROM json_each(p.sources) WHERE json_each.value = :source)"
            columns = ", ".join(f"p.{name.strip()}" for name in COLUMNS.split(","))
            sql = (
                f"SELECT {columns} FROM paper_terms d INDEXED BY ix_paper_terms_rank "
                "JOIN papers p ON p.id = d.paper_id WHERE d.first_seen > :start "
                f"AND d.first_seen <= :end AND {has} "
                "ORDER BY coalesce(d.upvotes, 0) DESC, d.paper_id LIMIT :limit"
            )
        else:
            sql = (
                f"SELECT {COLUMNS} FROM papers WHERE first_seen > :start AND first_seen <= :end "
                "AND jsonb_exists(CAST(papers.sources AS jsonb), :source) "
                'ORDER BY coalesce(upvotes, 0) DESC, id COLLATE "C" LIMIT :limit'
            )
        params = {"start": start, "end": end, "source": source, "limit": limit}
        async with self.engine.connect() as conn:
            return await read_papers(conn, sql, params)
