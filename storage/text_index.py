"""The stored papers' text index: each paper's keys as tokens, and queries as index look-ups.

A paper is indexed as the matcher reads it (bot.query.text): every key of its title, abstract
and authors, and every folded category, each token led by a letter naming its field (`t`itle,
`a`bstract, a`u`thor, `c`ategory) and `x` between fields and authors, so no phrase crosses
them. SQLite keeps the tokens in an FTS5 table (the `ascii` tokenizer splits them exactly on
the spaces written here) under document numbers in first-seen order (doc_range); PostgreSQL in
a tsvector with their positions, plus each two adjacent keys and the day first seen as lexemes
of their own (tsvector_literal). A query becomes a boolean expression over those tokens (and
the upvotes column): exact for words, phrases, categories, lone wildcards (each field's
distinct words are indexed too, after its keys), upvotes and their AND / OR / NOT; a superset
for a phrase with a wildcard in it (keys are plural-folded, wildcards match words) or a word
longer than the index keeps, which the evaluator then settles paper by paper.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import count, pairwise

from bot.models import Paper
from bot.query.evaluate import CompiledTerm, Compiler
from bot.query.language import Query, Upvotes
from bot.query.text import SEP, fold_text, tokenize, tokenize_parts

_LEAD = {"title": "t", "abstract": "a", "authors": "u", "categories": "c"}
# Each field's distinct words as written (folded), after all the keys: a lone wildcard
# (`diffus*`) starts a word, not a key, so these let the index decide it exactly.
_WORD_LEAD = {"title": "h", "abstract": "b", "authors": "n"}
WORD_LEADS = frozenset(_WORD_LEAD.values())
LONGEST = 240  # characters of a token indexed (at most 960 bytes: within PostgreSQL's limits)
GAP = "x"  # between fields and authors: no query token is a bare `x`
_PAIRED = frozenset(_LEAD[field] for field in ("title", "abstract", "authors"))
_MAX_POSITION = 16383  # PostgreSQL's last position
_MAX_POSITIONS = 255  # PostgreSQL keeps at most 256 positions of one lexeme
WINDOW_DAYS = 62  # a longer window is not looked up by its days (an OR of that many lexemes)


def _category_token(name: str) -> str:
    """A category as one token: its folded name in hex (a prefix of the name is a prefix of it)."""
    return "c" + name.encode().hex()


def _capped(token: str) -> str:
    """A token as indexed: its first LONGEST characters (PostgreSQL refuses a lexeme over 2 KB:
    one such word in an abstract would fail the whole poll that brought it)."""
    return token[:LONGEST]


def paper_tokens(paper: Paper) -> Iterator[str]:
    """The paper's index tokens: each field's keys in text order, its categories, then each
    field's distinct words (for wildcards; no phrase is looked up among them); each capped."""
    for token in _tokens(paper):
        yield token if len(token) <= LONGEST else _capped(token)


def _tokens(paper: Paper) -> Iterator[str]:
    fields = (
        ("title", tokenize(paper.title)),
        ("abstract", tokenize(paper.abstract)),
        ("authors", tokenize_parts(paper.authors, ", ")),
    )
    for field, tokens in fields:
        lead = _LEAD[field]
        for key in tokens.keys:
            yield GAP if key == SEP else lead + key
        yield GAP
    for name in paper.categories:
        yield _category_token(" ".join(fold_text(name).split()))
        yield GAP
    for field, tokens in fields:
        lead = _WORD_LEAD[field]
        for word in dict.fromkeys(tokens.words):
            if word != SEP:
                yield lead + word


def sqlite_terms(paper: Paper) -> str:
    """What the FTS5 table indexes for `paper`."""
    return " ".join(paper_tokens(paper))


def postgres_terms(paper: Paper, first_seen: datetime | None = None) -> str:
    """The paper's tsvector, written out (with the day it was first seen, day_lexemes)."""
    return tsvector_literal(paper_tokens(paper), first_seen)


# A paper's day is a lexeme, and so is each aligned span of 2, 4, ... 2**SPAN_LEVELS days it
# falls in: a window is then an OR of a few spans, not of each of its days. The GIN index merges
# the OR's entries item by item, and with one entry per day a month's count at 500,000 papers
# took 11.3 ms in the index (31 entries), against 4.0 ms as 5 spans.
SPAN_LEVELS = 6
_UNIX_DAY = date(1970, 1, 1).toordinal()


def _span(level: int, number: int) -> str:
    """The lexeme of the `number`th span of 2**level days since 1970-01-01 (level 0: a day)."""
    if level == 0:
        return f"z{date.fromordinal(number + _UNIX_DAY):%Y%m%d}"
    return f"y{level}n{number}"


def day_lexemes(when: datetime) -> list[str]:
    """The lexemes of the UTC day of `when` and of the spans it falls in (PostgreSQL): the GIN
    index finds a window's papers by them with the query's other lexemes, in one scan, instead
    of PostgreSQL filtering the window's every row by its tsvector."""
    day = when.astimezone(UTC).date().toordinal() - _UNIX_DAY
    return [_span(level, day >> level) for level in range(SPAN_LEVELS + 1)]


def _spans(day: int, after: int) -> list[str]:
    """The fewest aligned spans that cover the days [day, after) (numbered from 1970-01-01)."""
    spans = []
    while day < after:  # the longest span that starts at `day` and ends by `after`
        level = 0
        while level < SPAN_LEVELS and day % (2 << level) == 0 and day + (2 << level) <= after:
            level += 1
        spans.append(f"'{_span(level, day >> level)}'")
        day += 1 << level
    return spans


def _day_numbers(start: datetime, end: datetime) -> tuple[int, int] | None:
    """The UTC days of `start` and `end`, numbered; None for a window over WINDOW_DAYS."""
    first, last = (when.astimezone(UTC).date().toordinal() - _UNIX_DAY for when in (start, end))
    return None if last - first > WINDOW_DAYS else (first, last)


def window_days(start: datetime, end: datetime) -> str | None:
    """The tsquery of the days of (start, end] (every paper of the window is on one of them)
    as the fewest aligned spans, or None for a window longer than WINDOW_DAYS."""
    days = _day_numbers(start, end)
    return None if days is None else " | ".join(_spans(days[0], days[1] + 1)) or None


def window_parts(start: datetime, end: datetime) -> tuple[str, str] | None:
    """The days of (start, end] as two tsqueries: the spans of the days wholly inside it,
    whose papers are all in the window, and its first and last days, whose papers are to be
    checked against first_seen; None for a window with no day wholly inside it or longer
    than WINDOW_DAYS."""
    days = _day_numbers(start, end)
    if days is None or days[1] - days[0] < 2:
        return None
    first, last = days
    return " | ".join(_spans(first + 1, last)), f"'{_span(0, first)}' | '{_span(0, last)}'"


def pair_lexeme(first: str, second: str) -> str:
    """The lexeme of two adjacent keys of one field (PostgreSQL)."""
    return f"{first}_{second[1:]}"


def tsvector_literal(tokens: Iterable[str], first_seen: datetime | None = None) -> str:
    """A tsvector written out from index tokens (letters and digits: nothing to escape): each
    with its positions, and each two adjacent keys of one field once more as one lexeme
    without positions (pair_lexeme). A two-key phrase is then one look-up that the GIN index
    decides alone: checking positions reads every candidate's whole vector from TOAST.
    With `first_seen`, its day_lexemes too."""
    positions: dict[str, list[int]] = {}
    bare: dict[str, None] = {}  # lexemes without positions, in order
    previous = GAP
    for position, token in enumerate(tokens, start=1):
        if token == GAP:
            previous = GAP
            continue
        if token[0] in _PAIRED and previous[0] == token[0]:
            bare[pair_lexeme(previous, token)] = None
        previous = token
        places = positions.setdefault(token, [])
        if len(places) < _MAX_POSITIONS:
            places.append(min(position, _MAX_POSITION))
    written = [
        f"'{token}':{','.join(map(str, dict.fromkeys(places)))}"
        for token, places in positions.items()
    ]
    if first_seen is not None:
        bare.update(dict.fromkeys(day_lexemes(first_seen)))
    return " ".join(written + [f"'{lexeme}'" for lexeme in bare])


# --- document numbers (SQLite) -------------------------------------------------------------

# A paper's FTS5 document number is the millisecond of its first_seen (since 2020, clamped to
# 2^42 ms either side: years 1880 to 2159) shifted left by TIE_BITS, plus its place among the
# papers first seen in that millisecond. Document order is then first_seen order, so a window
# is a range of document numbers and FTS5 counts a query's matches in it alone. The key is
# monotone in first_seen: only the window's two boundary milliseconds are checked against
# first_seen itself.
TIE_BITS = 20  # 1,048,576 papers first seen in one millisecond (one poll's batch shares one)
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_CLAMP = 1 << 42


def doc_millisecond(when: datetime) -> int:
    """The millisecond of `when` (aware; naive is read as UTC) that its documents share."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(-_CLAMP, min(_CLAMP - 1, (when - _EPOCH) // _MS))


def doc_range(start: datetime, end: datetime) -> tuple[int, int, int, int]:
    """Document numbers of the window (start, end]: (lo, lo_inner, hi_inner, hi): every paper
    of the window is in [lo, hi); every paper in [lo_inner, hi_inner) is in the window."""
    first, last = doc_millisecond(start), doc_millisecond(end)
    return (
        first << TIE_BITS,
        (first + 1) << TIE_BITS,
        max(first + 1, last) << TIE_BITS,
        (last + 1) << TIE_BITS,
    )


# --- queries as expressions over the index ------------------------------------------------

# ("tok", token) | ("phrase", tokens) | ("prefix", token) : look-ups in the index
# ("up", Upvotes) : the upvotes column | ("and" | "or", items) | ("not", item) | ("true",) | ("false",)
Expr = tuple

TRUE: Expr = ("true",)
FALSE: Expr = ("false",)


def _any(items: list[Expr]) -> Expr:
    return items[0] if len(items) == 1 else ("or", tuple(items))


def _all(items: list[Expr]) -> Expr:
    return items[0] if len(items) == 1 else ("and", tuple(items))


def implies(a: Expr, b: Expr) -> bool:
    """Whether every paper `a` holds for, `b` holds for too, as far as their shapes tell
    (False where it cannot tell)."""
    if a == b:
        return True
    if a[0] == "or":
        return all(implies(item, b) for item in a[1])
    if b[0] == "or":
        return any(implies(a, item) for item in b[1])
    if a[0] == "and":
        return any(implies(item, b) for item in a[1])
    return False


def both(match: Expr, title: Expr) -> Expr:
    """A query's `match` and its `title` flag together: the flag alone where it implies the
    match (a term's title look-up, of its title-or-abstract one), so FTS5 is asked less."""
    return title if implies(title, match) else ("and", (match, title))


def _key_superset(lead: str, prefix: str) -> Expr:
    """Keys of words starting with `prefix`: a plural key keeps all but at most three of its
    word's last letters (and may end in `y`), so it starts with the prefix or is one of these."""
    items: list[Expr] = [("prefix", lead + prefix)]
    for cut in (1, 2, 3):
        stem = prefix[:-cut]
        if stem:
            items += [("tok", lead + stem), ("tok", lead + stem + "y")]
    return _any(items)


def _cap(expr: Expr) -> Expr:
    """`expr` looking up capped tokens (_capped): a superset where a token was longer."""
    kind = expr[0]
    if kind in ("tok", "prefix"):
        return (kind, _capped(expr[1]))
    if kind == "phrase":
        return (kind, tuple(map(_capped, expr[1])))
    if kind == "not":
        return (kind, _cap(expr[1]))
    if kind in ("and", "or"):
        return (kind, tuple(map(_cap, expr[1])))
    return expr


def _term(term: CompiledTerm, fields: tuple[str, ...]) -> tuple[Expr, bool]:
    """The look-up of a term in `fields`, and whether it is exact (not where a token of it is
    longer than the index keeps: the evaluator then decides)."""
    expr, exact = _uncapped_term(term, fields)
    capped = _cap(expr)
    return capped, exact and capped == expr


def _uncapped_term(term: CompiledTerm, fields: tuple[str, ...]) -> tuple[Expr, bool]:
    if term.scope == "cat":
        value, prefix = term.parts[0]
        token = _category_token(value)
        return (("prefix", token) if prefix else ("tok", token)), True
    per_field: list[Expr] = []
    exact = True
    for field in fields:
        lead = _LEAD[field]
        if not any(prefix for _, prefix in term.parts):
            tokens = tuple(lead + key for key, _ in term.parts)
            per_field.append(("tok", tokens[0]) if len(tokens) == 1 else ("phrase", tokens))
            continue
        if len(term.parts) == 1:  # a lone wildcard: the words themselves are indexed
            per_field.append(("prefix", _WORD_LEAD[field] + term.parts[0][0]))
            continue
        exact = False  # a phrase with a wildcard: its keys, a superset
        per_field.append(
            _all(
                [
                    _key_superset(lead, key) if prefix else ("tok", lead + key)
                    for key, prefix in term.parts
                ]
            )
        )
    return _any(per_field), exact


def word_prefixes(expr: Expr) -> set[str]:
    """The lone wildcards on words in `expr` (prefixes of word tokens)."""
    kind = expr[0]
    if kind == "prefix":
        return {expr[1]} if expr[1][0] in WORD_LEADS else set()
    if kind == "not":
        return word_prefixes(expr[1])
    if kind in ("and", "or"):
        return set().union(*map(word_prefixes, expr[1]))
    return set()


def expand(expr: Expr, words: dict[str, list[str]]) -> Expr:
    """`expr` with each wildcard of `words` as the words it starts: FTS5 seeks a word's
    documents within a window, but reads every document of a prefix's words."""
    kind = expr[0]
    if kind == "prefix" and expr[1] in words:
        found = words[expr[1]]
        return _any([("tok", word) for word in found]) if found else FALSE
    if kind == "not":
        return simplify(("not", expand(expr[1], words)))
    if kind in ("and", "or"):
        return simplify((kind, tuple(expand(item, words) for item in expr[1])))
    return expr


@dataclass(frozen=True)
class Translation:
    """A query as index look-ups: `match` holds for every paper the query matches (for every
    paper and no other when `exact`); `in_title` for a matching paper, whether one of the
    terms its match reports is in the title (title matches rank first)."""

    match: Expr
    in_title: Expr
    exact: bool


def translate(query: Query) -> Translation:
    """The index look-ups of `query`."""
    node = Compiler().compile(query.root)
    inexact: list[bool] = []

    def match(node: tuple, superset: bool) -> Expr:
        """`node` as an expression: a superset of its papers, or a subset (under a NOT)."""
        kind, payload = node
        if kind in ("word", "term"):
            expr, exact = _term(payload, payload.fields)
            if exact:
                return expr
            inexact.append(True)
            return expr if superset else FALSE
        if kind == "upvotes":
            return ("up", payload)
        if kind == "not":
            return ("not", match(payload, not superset))
        items = [match(item, superset) for item in payload]
        return ("and" if kind == "and" else "or", tuple(items))

    def in_title(node: tuple) -> Expr:
        kind, payload = node
        if kind in ("word", "term"):
            if "title" not in payload.fields:
                return FALSE
            return _term(payload, ("title",))[0]
        if kind in ("upvotes", "not"):
            return FALSE
        if kind == "and":
            return _any([in_title(item) for item in payload])
        return _any([both(match(item, True), in_title(item)) for item in payload])

    found = match(node, True)
    title = in_title(node)
    return Translation(simplify(found), simplify(title), not inexact)


def either(found: Sequence[Translation]) -> Translation:
    """Several queries' translations as one, of the papers any of them matches (a channel's
    subscriptions): a paper's title flag, as for an OR, is whether a query that matches it has
    one of its reported terms in the title."""
    return Translation(
        simplify(_any([f.match for f in found]) if found else FALSE),
        simplify(_any([both(f.match, f.in_title) for f in found]) if found else FALSE),
        all(f.exact for f in found),
    )


def simplify(expr: Expr) -> Expr:
    """`expr` with constants folded away."""
    kind = expr[0]
    if kind == "not":
        inner = simplify(expr[1])
        return FALSE if inner == TRUE else TRUE if inner == FALSE else ("not", inner)
    if kind not in ("and", "or"):
        return expr
    absorbing, neutral = (FALSE, TRUE) if kind == "and" else (TRUE, FALSE)
    items = []
    for item in map(simplify, expr[1]):
        if item == absorbing:
            return absorbing
        if item != neutral:
            items.append(item)
    if not items:
        return neutral
    return items[0] if len(items) == 1 else (kind, tuple(items))


# --- rendering ------------------------------------------------------------------------------


class Params:
    """Bound parameters of one SQL statement, named as they are added."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self._ids = count()

    def add(self, value: object) -> str:
        """A placeholder for `value`."""
        name = f"p{next(self._ids)}"
        self.values[name] = value
        return f":{name}"


def _upvotes_sql(up: Upvotes, params: Params, column: str) -> str:
    low, high = up.bounds()
    parts = []
    if low is not None:
        parts.append(f"coalesce({column}, 0) >= {params.add(low)}")
    if high is not None:
        parts.append(f"coalesce({column}, 0) <= {params.add(high)}")
    return " AND ".join(parts) or "1 = 1"


def _searchable(expr: Expr) -> bool:
    """Whether the index alone can decide `expr` (no upvotes, no constants)."""
    kind = expr[0]
    if kind in ("tok", "phrase", "prefix"):
        return True
    if kind == "not":
        return _searchable(expr[1])
    if kind in ("and", "or"):
        return all(map(_searchable, expr[1]))
    return False


class SqliteRenderer:
    """Expressions as SQL over `paper_terms d` and its FTS5 table `paper_fts`.

    FTS5 has no NOT of its own (only `a NOT b`): a NOT whose sibling is no look-up becomes a
    SQL NOT around the look-up. `:lo` and `:hi` bound the documents read to those of the
    window's milliseconds (doc_range).
    """

    def __init__(self, params: Params) -> None:
        self.params = params

    def fts(self, expr: Expr) -> str | None:
        """`expr` as one FTS5 query, if it can be one."""
        kind = expr[0]
        if kind == "tok":
            return f'"{expr[1]}"'
        if kind == "phrase":
            return '"' + " ".join(expr[1]) + '"'
        if kind == "prefix":
            return f'"{expr[1]}" *'
        if kind == "or":
            items = [self.fts(item) for item in expr[1]]
            return None if None in items else "(" + " OR ".join(items) + ")"  # type: ignore[arg-type]
        if kind == "and":
            positive, negative = [], []
            for item in expr[1]:
                inner = item[1] if item[0] == "not" else item
                text = self.fts(inner)
                if text is None:
                    return None
                (negative if item[0] == "not" else positive).append(text)
            if not positive:
                return None
            return "(" + " AND ".join(positive) + "".join(f" NOT {n}" for n in negative) + ")"
        return None

    def sql(self, expr: Expr) -> str:
        """`expr` as a SQL condition."""
        kind = expr[0]
        text = self.fts(expr)
        if text is not None:
            return (
                "d.doc IN (SELECT rowid FROM paper_fts WHERE paper_fts MATCH "
                f"{self.params.add(text)} AND rowid >= :lo AND rowid < :hi)"
            )
        if kind == "true":
            return "1 = 1"
        if kind == "false":
            return "1 = 0"
        if kind == "up":
            return _upvotes_sql(expr[1], self.params, "d.upvotes")
        if kind == "not":
            return f"NOT ({self.sql(expr[1])})"
        items = list(expr[1])
        if kind == "and":  # the look-ups together in one FTS query (`a NOT b`), the rest in SQL
            looks = [i for i in items if self.fts(i[1] if i[0] == "not" else i) is not None]
            if len(looks) > 1 and any(i[0] != "not" for i in looks):
                items = [_all(looks), *[i for i in items if i not in looks]]
        else:
            looks = [i for i in items if self.fts(i) is not None]
            if len(looks) > 1:
                items = [_any(looks), *[i for i in items if i not in looks]]
        joiner = " AND " if kind == "and" else " OR "
        return "(" + joiner.join(f"({self.sql(i)})" for i in items) + ")"


class PostgresRenderer:
    """Expressions as SQL over `paper_terms d`: look-ups as one tsquery against `d.terms`."""

    def __init__(self, params: Params) -> None:
        self.params = params

    def tsquery(self, expr: Expr) -> str:
        """A searchable `expr` as a tsquery (lexemes are letters and digits: nothing to escape)."""
        kind = expr[0]
        if kind == "tok":
            return f"'{expr[1]}'"
        if kind == "phrase":  # its keys' pairs (tsvector_literal), then their positions
            tokens = expr[1]
            pairs = " & ".join(f"'{pair_lexeme(a, b)}'" for a, b in pairwise(tokens))
            if len(tokens) == 2:
                return pairs
            return f"({pairs} & (" + " <-> ".join(f"'{t}'" for t in tokens) + "))"
        if kind == "prefix":
            return f"'{expr[1]}':*"
        if kind == "not":
            return f"!{self.tsquery(expr[1])}"
        joiner = " & " if kind == "and" else " | "
        return "(" + joiner.join(self.tsquery(item) for item in expr[1]) + ")"

    def sql(self, expr: Expr) -> str:
        """`expr` as a SQL condition."""
        kind = expr[0]
        if _searchable(expr):
            return f"d.terms @@ CAST({self.params.add(self.tsquery(expr))} AS tsquery)"
        if kind == "true":
            return "TRUE"
        if kind == "false":
            return "FALSE"
        if kind == "up":
            return _upvotes_sql(expr[1], self.params, "d.upvotes")
        if kind == "not":
            return f"NOT ({self.sql(expr[1])})"
        items = list(expr[1])
        looks = [i for i in items if _searchable(i)]
        if len(looks) > 1:
            items = [
                (_all if kind == "and" else _any)(looks),
                *[i for i in items if i not in looks],
            ]
        if len(items) == 1:
            return self.sql(items[0])
        joiner = " AND " if kind == "and" else " OR "
        return "(" + joiner.join(f"({self.sql(i)})" for i in items) + ")"
