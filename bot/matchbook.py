"""Every channel's subscriptions in one index, with each paper's matches worked out once."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

from bot.matcher import SubscriptionIndex, explain
from bot.models import ChannelRef, Hit, Match, Paper, Subscription
from bot.query import Query, QueryError, parse

Hits = dict[int, tuple[Hit, ...]]


class MatchBook:
    """The live subscription index plus a bounded memo of paper -> matching subscriptions.

    Adding a subscription evaluates it against the memoised papers only; removing one is
    filtered at read time. `sync` brings it in line with the database by id, incrementally.
    """

    def __init__(self, memo_size: int = 50_000) -> None:
        self.index = SubscriptionIndex()
        self.subs: dict[int, Subscription] = {}
        self.queries: dict[int, Query] = {}
        self._memo: OrderedDict[str, tuple[Paper, Hits]] = OrderedDict()
        self._memo_size = memo_size

    def add(self, sub: Subscription) -> None:
        """Index a subscription (and match it against the memoised papers)."""
        if sub.id in self.subs:
            return
        try:
            query = parse(sub.canonical)
        except QueryError:
            query = parse(sub.query)
        self.subs[sub.id] = sub
        self.queries[sub.id] = query
        self.index.add(sub.id, query)
        for paper, hits in self._memo.values():
            found = explain(query, paper)
            if found is not None:
                hits[sub.id] = found

    def remove(self, sub_id: int) -> None:
        """Forget a subscription."""
        if self.subs.pop(sub_id, None) is not None:
            self.queries.pop(sub_id, None)
            self.index.remove(sub_id)

    def sync(self, subs: Iterable[Subscription]) -> None:
        """Make the index hold exactly `subs` (as read from the database)."""
        wanted = {s.id: s for s in subs}
        for gone in set(self.subs) - set(wanted):
            self.remove(gone)
        for sid, sub in wanted.items():
            if sid not in self.subs:
                self.add(sub)

    def _hits(self, papers: Sequence[Paper]) -> list[tuple[Paper, Hits]]:
        out = []
        for paper in papers:
            cached = self._memo.get(paper.id)
            if cached is None or cached[0] != paper:
                cached = (paper, dict(self.index.match(paper)))
                self._memo[paper.id] = cached
                if len(self._memo) > self._memo_size:
                    self._memo.popitem(last=False)
            out.append(cached)
        return out

    def matches(self, papers: Sequence[Paper]) -> dict[ChannelRef, list[Match]]:
        """Per channel, the papers matching any of its subscriptions, with their hits."""
        by_channel: dict[ChannelRef, list[Match]] = {}
        for paper, hits in self._hits(papers):
            per: dict[ChannelRef, tuple[list[int], list[Hit]]] = {}
            for sid, found in hits.items():
                sub = self.subs.get(sid)
                if sub is None:
                    continue
                ids, all_hits = per.setdefault(sub.channel, ([], []))
                ids.append(sid)
                all_hits.extend(found)
            for ref, (ids, all_hits) in per.items():
                unique = tuple(dict.fromkeys(all_hits))
                by_channel.setdefault(ref, []).append(Match(paper, tuple(sorted(ids)), unique))
        return by_channel

    def matches_for(self, ref: ChannelRef, papers: Sequence[Paper]) -> list[Match]:
        """The papers matching any of one channel's subscriptions."""
        return self.matches(papers).get(ref, [])
