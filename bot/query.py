"""Subscription queries (interim keyword form; the full language replaces this module)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+")


class QueryError(ValueError):
    """A query that cannot be parsed; says what is wrong and where."""

    def __init__(self, message: str, column: int | None = None) -> None:
        self.message = message
        self.column = column
        super().__init__(message if column is None else f"{message} at column {column}")


@dataclass(frozen=True)
class Query:
    """A parsed query: all its words must appear."""

    text: str
    words: tuple[str, ...]

    @property
    def canonical(self) -> str:
        """One text form per query."""
        return " ".join(self.words)


def parse(text: str) -> Query:
    """Parse keywords, or raise QueryError."""
    words = tuple(w.lower() for w in _WORD.findall(text))
    if not words:
        raise QueryError("empty query: give at least one word, e.g. `subscribe diffusion`")
    return Query(text=text, words=words)
