"""A reference matcher: every query compiled to regular expressions and run over every paper.

Slow by design and independent of the index and tokeniser in bot.query.matcher: the oracle the tests
compare the index against, and the baseline the benchmark measures it against. It shares only
the folding rules (bot.query.text), which define what "the same word" means.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.models import Paper
from bot.query.language import And, Node, Not, Or, Query, Term, Upvotes
from bot.query.text import fold_text, plural_forms, plural_key

_BEFORE = r"(?<![^\W_])"  # not preceded by a letter or digit
_AFTER = r"(?![^\W_])"
_GAP = r"[\W_]+"


@dataclass(frozen=True)
class FoldedPaper:
    """A paper's fields folded once, for regexes to run over."""

    paper: Paper
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]

    @classmethod
    def of(cls, paper: Paper) -> FoldedPaper:
        """Fold every field of `paper`."""
        return cls(
            paper,
            fold_text(paper.title),
            fold_text(paper.abstract),
            tuple(fold_text(a) for a in paper.authors),
            tuple(" ".join(fold_text(c).split()) for c in paper.categories),
        )


Predicate = Callable[[FoldedPaper], bool]


def compile_query(query: Query) -> Predicate:
    """A predicate saying whether a folded paper matches `query`."""
    return _compile(query.root)


def _compile(node: Node) -> Predicate:
    if isinstance(node, Term):
        return _term(node)
    if isinstance(node, Upvotes):
        return lambda p: node.accepts(p.paper.upvotes)
    if isinstance(node, Not):
        inner = _compile(node.item)
        return lambda p: not inner(p)
    items = [_compile(i) for i in node.items]
    if isinstance(node, And):
        return lambda p: all(f(p) for f in items)
    assert isinstance(node, Or)
    return lambda p: any(f(p) for f in items)


def _term(term: Term) -> Predicate:
    if term.field == "cat":
        value = term.parts[0]
        if value.endswith("*"):
            return lambda p: any(c.startswith(value[:-1]) for c in p.categories)
        return lambda p: value in p.categories
    pattern = re.compile(_BEFORE + _GAP.join(map(_part, term.parts)) + _AFTER)
    search = pattern.search
    if term.field == "author":
        return lambda p: any(search(a) for a in p.authors)
    if term.field == "title":
        return lambda p: search(p.title) is not None
    if term.field == "abstract":
        return lambda p: search(p.abstract) is not None
    return lambda p: search(p.title) is not None or search(p.abstract) is not None


def _part(part: str) -> str:
    if part.endswith("*"):
        return re.escape(part[:-1]) + r"[^\W_]*"
    forms = sorted(plural_forms(plural_key(part)), key=len, reverse=True)
    return "(?:" + "|".join(map(re.escape, forms)) + ")" + _AFTER


def matches(query: Query, paper: Paper) -> bool:
    """Whether `paper` matches `query`, the slow way."""
    return compile_query(query)(FoldedPaper.of(paper))
