"""Matching papers against queries (interim whole-word keyword matcher)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.models import Hit, Paper
from bot.query import Query


def explain(query: Query, paper: Paper) -> tuple[Hit, ...] | None:
    """The hits of every query word in title and abstract, or None unless all words appear."""
    hits: list[Hit] = []
    for word in query.words:
        pattern = re.compile(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", re.IGNORECASE)
        found = [
            Hit(name, word, m.start(), m.end())
            for name, text in (("title", paper.title), ("abstract", paper.abstract))
            for m in pattern.finditer(text)
        ]
        if not found:
            return None
        hits.extend(found)
    return tuple(hits)


class SubscriptionIndex:
    """Every subscription's query by key."""

    def __init__(self) -> None:
        self._queries: dict[int, Query] = {}

    def add(self, key: int, query: Query) -> None:
        """Index a subscription."""
        self._queries[key] = query

    def remove(self, key: int) -> None:
        """Forget a subscription."""
        self._queries.pop(key, None)

    def __len__(self) -> int:
        return len(self._queries)

    def __contains__(self, key: int) -> bool:
        return key in self._queries

    def match(self, paper: Paper) -> dict[int, tuple[Hit, ...]]:
        """The keys whose query matches the paper, with their hits."""
        out = {}
        for key, query in self._queries.items():
            hits = explain(query, paper)
            if hits is not None:
                out[key] = hits
        return out

    def match_many(self, papers: Iterable[Paper]) -> dict[str, dict[int, tuple[Hit, ...]]]:
        """match() for each paper, by paper id."""
        return {p.id: self.match(p) for p in papers}
