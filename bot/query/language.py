"""The subscription query language: one parser, positioned errors, one canonical text form.

    diffusion            the word in the title or abstract (case, accents and plurals folded)
    diffus*              any word starting with `diffus`
    "classifier-free guidance"   the phrase (hyphens and punctuation separate words)
    a b   a AND b        both            a OR b      either (AND binds tighter than OR)
    -a    NOT a          excludes        (a OR b) c  grouping
    title: abstract: author: cat:        restrict a word, phrase or group to a field
    upvotes:>=10         also > <= < =

A parsed query prints as its canonical form: operators normalised (`-` for NOT, implicit AND,
explicit parentheses around an AND inside an OR), fields lower-cased, terms folded; the user's
order is kept. `parse(q.canonical).canonical == q.canonical`.
"""

from __future__ import annotations

import difflib
import operator
import re
from dataclasses import dataclass, field
from typing import Literal

from bot.inbound import excerpt
from bot.query.text import fold_text, plural_key, words

MAX_LENGTH = 256
MAX_TERMS = 32
MAX_DEPTH = 16
MIN_PREFIX = 2

TEXT_FIELDS = ("title", "abstract", "author")
FIELDS = (*TEXT_FIELDS, "cat", "upvotes")
_ALIASES = {"authors": "author", "category": "cat", "categories": "cat"}
_FIELD_PREFIX = re.compile(r"([A-Za-z]+):")
_UPVOTES = re.compile(r"(>=|<=|>|<|=)?(\d{1,9})")
_PLAIN_CAT = re.compile(r"[^\s()\"*\-][^\s()\"*]*")

Op = Literal[">=", "<=", ">", "<", "="]
_COMPARE = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
}


class QueryError(ValueError):
    """A query that cannot be parsed: what is wrong (`message`) and where (`column`, 1-based)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        self.message = message
        self.column = column
        super().__init__(f"{message} at column {column}" if column else message)


@dataclass(frozen=True, slots=True)
class Term:
    """Words to find in a field (`any` = title or abstract); a part ending in `*` is a prefix.

    For `cat`, `parts` holds the one category name (a prefix when it ends in `*`).
    """

    field: str
    parts: tuple[str, ...]

    @property
    def label(self) -> str:
        """The term as a highlight names it: `diffusion`, `diffus*`, `classifier free guidance`."""
        return " ".join(self.parts)


@dataclass(frozen=True, slots=True)
class Upvotes:
    """A floor or ceiling on Hugging Face upvotes (none counts as 0)."""

    op: Op
    value: int

    def accepts(self, upvotes: int | None) -> bool:
        """Whether a paper with `upvotes` passes."""
        return _COMPARE[self.op](upvotes or 0, self.value)

    def bounds(self) -> tuple[int | None, int | None]:
        """The upvote counts it accepts, as an inclusive (lowest, highest); None is unbounded."""
        value = self.value
        return {
            ">=": (value, None),
            ">": (value + 1, None),
            "<=": (None, value),
            "<": (None, value - 1),
            "=": (value, value),
        }[self.op]


@dataclass(frozen=True, slots=True)
class Not:
    """Excludes what `item` matches."""

    item: Node


@dataclass(frozen=True, slots=True)
class And:
    """Every item matches."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one item matches."""

    items: tuple[Node, ...]


Node = Term | Upvotes | Not | And | Or


@dataclass(frozen=True)
class Query:
    """A parsed subscription query. Two queries are equal when their canonical forms are."""

    canonical: str
    text: str = field(compare=False)
    root: Node = field(compare=False, repr=False)

    def __str__(self) -> str:
        return self.canonical

    @property
    def key(self) -> str:
        """What the query matches, as text: the canonical form with plurals folded and the
        operands of AND and OR sorted, so `models diffusion` and `diffusion model` share a key.
        Two queries with one key match the same papers (a channel needs only one of them)."""
        return _key(self.root)


# Typographic quotes (what phones and word processors type) read as the ASCII double quote, one
# character for one, so error columns still point into the text as typed.
_QUOTES = str.maketrans(dict.fromkeys("“”„‟«»＂", '"'))


def parse(text: str) -> Query:
    """Parse a subscription query, or raise QueryError saying what is wrong and where."""
    if not isinstance(text, str):
        raise QueryError("a query must be text")
    stripped = text.strip()
    if not stripped:
        raise QueryError("empty query: give words to look for, e.g. diffusion")
    if len(stripped) > MAX_LENGTH:
        raise QueryError(
            f"query too long: {len(stripped)} characters (at most {MAX_LENGTH})",
            text.index(stripped[0]) + MAX_LENGTH + 1,
        )
    root = _Parser(_lex(text.translate(_QUOTES))).parse()
    if not _has_positive(root):
        raise QueryError(
            "a query needs at least one term to look for: exclusions alone "
            "(like -survey) would match almost every paper"
        )
    return Query(canonical(root), text, root)


def canonical(node: Node) -> str:
    """The canonical text of a query tree."""
    if isinstance(node, Term):
        return ("" if node.field == "any" else node.field + ":") + _term_value(node)
    if isinstance(node, Upvotes):
        return f"upvotes:{node.op}{node.value}"
    if isinstance(node, Not):
        inner = canonical(node.item)
        return "-" + (inner if isinstance(node.item, Term | Upvotes) else f"({inner})")
    if isinstance(node, And):
        return " ".join(
            f"({canonical(i)})" if isinstance(i, Or) else canonical(i) for i in node.items
        )
    return " OR ".join(
        f"({canonical(i)})" if isinstance(i, And) else canonical(i) for i in node.items
    )


def _key(node: Node) -> str:
    if isinstance(node, Term):
        if node.field != "cat":
            node = Term(
                node.field,
                tuple(p if p.endswith("*") else plural_key(p) for p in node.parts),
            )
        return canonical(node)
    if isinstance(node, Upvotes):
        # On whole numbers `>9` is `>=10` and `<10` is `<=9`.
        if node.op in (">", "<"):
            step = 1 if node.op == ">" else -1
            node = Upvotes(node.op + "=", node.value + step)
        return canonical(node)
    if isinstance(node, Not):
        return f"-({_key(node.item)})"
    joiner = " " if isinstance(node, And) else " OR "
    items = sorted(set(map(_key, node.items)))  # `a a` and `a OR a` are `a`
    return items[0] if len(items) == 1 else "(" + joiner.join(items) + ")"


def _term_value(term: Term) -> str:
    if term.field == "cat":
        (value,) = term.parts
        if value.endswith("*") or _PLAIN_CAT.fullmatch(value):
            return value
        return '"' + value.replace('"', "") + '"'
    return term.parts[0] if len(term.parts) == 1 else '"' + " ".join(term.parts) + '"'


def _has_positive(node: Node) -> bool:
    """Whether every way for `node` to match needs something present (not only absences)."""
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(_has_positive(i) for i in node.items)
    if isinstance(node, Or):
        return all(_has_positive(i) for i in node.items)
    return True


# -- lexing ------------------------------------------------------------------------------------

Kind = Literal["(", ")", "word", "phrase", "field", "-", "OR", "AND", "NOT", "end"]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Kind
    value: str
    column: int  # 1-based


def _lex(text: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            out.append(_Token(char, char, i + 1))  # type: ignore[arg-type]
            i += 1
        elif char == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise QueryError("unbalanced quote", i + 1)
            out.append(_Token("phrase", text[i + 1 : close], i + 1))
            i = close + 1
        elif char == "-":
            if i + 1 >= n or text[i + 1].isspace() or text[i + 1] == ")":
                raise QueryError("'-' needs a term right after it, e.g. -survey", i + 1)
            out.append(_Token("-", "-", i + 1))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in '()"':
                i += 1
            out.extend(_lex_word(text[start:i], start + 1))
    out.append(_Token("end", "", len(text) + 1))
    return out


def _lex_word(word: str, column: int) -> list[_Token]:
    if word in ("OR", "AND", "NOT"):
        return [_Token(word, word, column)]  # type: ignore[arg-type]
    prefix = _FIELD_PREFIX.match(word)
    if not prefix:
        return [_Token("word", word, column)]
    typed = prefix.group(1)
    name = _ALIASES.get(typed.lower(), typed.lower())
    if name not in FIELDS:
        close = difflib.get_close_matches(name, [*FIELDS, *_ALIASES], n=1, cutoff=0.6)
        hint = (
            f"did you mean {_ALIASES.get(close[0], close[0])}:?"
            if close
            else "fields are title:, abstract:, author:, cat:, upvotes:; "
            'quote text that has a colon, e.g. "note: this"'
        )
        raise QueryError(f"unknown field '{excerpt(typed)}:' ({hint})", column)
    rest = word[prefix.end() :]
    tokens = [_Token("field", name, column)]
    if rest.startswith("-"):
        raise QueryError(
            f"put '-' before the field to exclude, e.g. -{name}:{excerpt(rest[1:])}", column
        )
    inner = _FIELD_PREFIX.match(rest)
    if inner and _ALIASES.get(inner.group(1).lower(), inner.group(1).lower()) in FIELDS:
        raise QueryError(
            f"a field cannot hold another field: '{excerpt(word)}' (give each its own term, e.g. "
            "title:diffusion cat:cs.CV)",
            column + prefix.end(),
        )
    if rest:
        tokens.append(_Token("word", rest, column + prefix.end()))
    return tokens


# -- parsing -----------------------------------------------------------------------------------

_STARTS_TERM = frozenset({"(", "word", "phrase", "field", "-", "NOT"})


class _Parser:
    """Recursive descent: or := and (OR and)*; and := unary ([AND] unary)*; unary := -unary | atom."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.count = 0
        self.depth = 0

    @property
    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.parse_or(None)
        token = self.peek
        if token.kind == ")":
            raise QueryError("unbalanced parenthesis ')'", token.column)
        if token.kind != "end":  # pragma: no cover - parse_or consumes everything else
            raise QueryError(f"unexpected {excerpt(token.value)!r}", token.column)
        return node

    def parse_or(self, field: str | None) -> Node:
        items = [self.parse_and(field)]
        while self.peek.kind == "OR":
            op = self.take()
            if self.peek.kind not in _STARTS_TERM:
                raise QueryError("OR needs a term on both sides", op.column)
            items.append(self.parse_and(field))
        return _flat(Or, items)

    def parse_and(self, field: str | None) -> Node:
        token = self.peek
        if token.kind in ("OR", "AND"):
            raise QueryError(f"{token.kind} needs a term on both sides", token.column)
        if token.kind == ")":
            raise QueryError(
                "empty parentheses"
                if self.pos and self.tokens[self.pos - 1].kind == "("
                else "unbalanced parenthesis ')'",
                token.column,
            )
        items = [self.parse_unary(field)]
        while self.peek.kind in _STARTS_TERM or self.peek.kind == "AND":
            if self.peek.kind == "AND":
                op = self.take()
                if self.peek.kind not in _STARTS_TERM:
                    raise QueryError("AND needs a term on both sides", op.column)
            items.append(self.parse_unary(field))
        return _flat(And, items)

    def parse_unary(self, field: str | None) -> Node:
        token = self.peek
        if token.kind in ("-", "NOT"):
            self.take()
            if self.peek.kind not in _STARTS_TERM:
                what = "NOT" if token.kind == "NOT" else "'-'"
                raise QueryError(f"{what} needs a term after it", token.column)
            with _Nesting(self, token):
                return Not(self.parse_unary(field))
        return self.parse_atom(field)

    def parse_atom(self, field: str | None) -> Node:
        token = self.take()
        if token.kind == "(":
            if self.peek.kind == "end":
                raise QueryError("unbalanced parenthesis '('", token.column)
            with _Nesting(self, token):
                node = self.parse_or(field)
            if self.peek.kind != ")":
                raise QueryError("unbalanced parenthesis '('", token.column)
            self.take()
            return node
        if token.kind == "field":
            if field is not None:
                raise QueryError(
                    f"'{token.value}:' cannot be used inside '{field}:(...)'", token.column
                )
            return self.parse_field(token)
        if token.kind in ("word", "phrase"):
            return self.term(field or "any", token)
        raise QueryError(f"unexpected {excerpt(token.value)!r}", token.column)  # pragma: no cover

    def parse_field(self, name: _Token) -> Node:
        value = self.peek
        if name.value == "upvotes":
            match = _UPVOTES.fullmatch(value.value) if value.kind == "word" else None
            if not match:
                raise QueryError("upvotes: needs a comparison like upvotes:>=10", name.column)
            self.take()
            self.count_term(name)
            return Upvotes(match.group(1) or "=", int(match.group(2)))  # type: ignore[arg-type]
        if value.kind == "(":
            return self.parse_atom(name.value)
        if value.kind in ("-", "NOT"):
            raise QueryError(
                f"put '-' before the field to exclude, e.g. -{name.value}:survey", value.column
            )
        if value.kind not in ("word", "phrase"):
            example = {"cat": "cat:cs.CV", "author": 'author:"Jane Doe"'}.get(
                name.value, f"{name.value}:diffusion"
            )
            raise QueryError(
                f"{name.value}: needs a word, a phrase or a group after it (e.g. {example})",
                name.column,
            )
        return self.term(name.value, self.take())

    def term(self, field: str, token: _Token) -> Term:
        self.count_term(token)
        if field == "cat":
            return _category(token)
        parts: list[str] = []
        offset = 1 if token.kind == "phrase" else 0
        for chunk in re.finditer(r"\S+", token.value):
            parts.extend(_chunk_parts(chunk.group(), token.column + offset + chunk.start()))
        if not parts:
            what = (
                "empty phrase"
                if token.kind == "phrase" and not token.value.strip()
                else (f"{_show(token)} has no letters or digits to look for")
            )
            raise QueryError(what, token.column)
        return Term(field, tuple(parts))

    def count_term(self, token: _Token) -> None:
        self.count += 1
        if self.count > MAX_TERMS:
            raise QueryError(f"too many terms (at most {MAX_TERMS})", token.column)


class _Nesting:
    """Bounds how deep groups and negations nest, so no input can exhaust the stack."""

    def __init__(self, parser: _Parser, token: _Token) -> None:
        self.parser, self.token = parser, token

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > MAX_DEPTH:
            raise QueryError(f"too deeply nested (at most {MAX_DEPTH} levels)", self.token.column)

    def __exit__(self, *exc: object) -> None:
        self.parser.depth -= 1


def _chunk_parts(chunk: str, column: int) -> list[str]:
    """The folded words of one whitespace-free piece of a term; a trailing `*` makes a prefix."""
    star = chunk.find("*")
    if star < 0:
        return words(chunk)
    if star != len(chunk) - 1:
        raise QueryError(
            "a wildcard '*' goes only at the end of a word, e.g. diffus*", column + star
        )
    base = fold_text(chunk[:-1])
    found = words(chunk[:-1])
    if not found or not base[-1:].isalnum():
        raise QueryError(
            "a wildcard '*' must follow a letter or digit, e.g. diffus*", column + star
        )
    if len(found[-1]) < MIN_PREFIX:
        raise QueryError(
            f"a wildcard needs at least {MIN_PREFIX} letters before '*', e.g. diffus*",
            column + star,
        )
    found[-1] += "*"
    return found


def _category(token: _Token) -> Term:
    raw = token.value
    prefix = token.kind == "word" and raw.endswith("*")
    if "*" in (raw[:-1] if token.kind == "word" else raw):
        raise QueryError("a wildcard '*' goes only at the end, e.g. cat:cs.*", token.column)
    value = " ".join(fold_text(raw[:-1] if prefix else raw).split()).replace('"', "")
    if not value:
        raise QueryError("cat: needs a category, e.g. cat:cs.CV", token.column)
    return Term("cat", (value + "*" if prefix else value,))


def _show(token: _Token) -> str:
    return f'"{token.value}"' if token.kind == "phrase" else f"'{token.value}'"


def _flat(kind: type[And] | type[Or], items: list[Node]) -> Node:
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))
