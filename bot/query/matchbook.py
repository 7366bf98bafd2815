"""Every channel's subscriptions in one index, with each paper's matches worked out once."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

from bot.models import ChannelRef, Hit, Match, Paper, Subscription
from bot.query.language import Query, QueryError, parse
from bot.query.matcher import SubscriptionIndex, explain

Hits = dict[int, tuple[Hit, ...]]


class Seen:
    """A paper the book has matched: which subscriptions match it, and their hits once some
    digest, preview or search needs them (worked out then, for all of them at once)."""

    __slots__ = ("hits", "keys", "paper")

    def __init__(self, paper: Paper, keys: list[int]) -> None:
        self.paper = paper
        self.keys = keys
        self.hits: Hits | None = None


class MatchBook:
    """The live subscription index plus a bounded memo of paper -> matching subscriptions.

    Adding a subscription evaluates it against the memoised papers only; removing one is
    filtered at read time. `sync` brings it in line with the database by id, incrementally.
    A round over many channels decides every paper's matches; a match's hits (its highlighted
    spans) are worked out when a channel's digest first needs that paper.
    """

    def __init__(self, memo_size: int = 50_000) -> None:
        self.index = SubscriptionIndex()
        self.subs: dict[int, Subscription] = {}
        self.queries: dict[int, Query] = {}
        self.channel_subs: dict[ChannelRef, set[int]] = {}
        self._memo: OrderedDict[str, Seen] = OrderedDict()
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
        self.channel_subs.setdefault(sub.channel, set()).add(sub.id)
        self.index.add(sub.id, query)
        for seen in self._memo.values():
            found = explain(query, seen.paper)
            # An id can come back (SQLite reuses the highest one once deleted): what the memo
            # says of the old subscription must not stick to the new one.
            known = sub.id in seen.keys
            if found is not None:
                if not known:
                    seen.keys.append(sub.id)
                if seen.hits is not None:
                    seen.hits[sub.id] = found
            elif known:
                seen.keys.remove(sub.id)
                if seen.hits is not None:
                    seen.hits.pop(sub.id, None)

    def remove(self, sub_id: int) -> None:
        """Forget a subscription."""
        sub = self.subs.pop(sub_id, None)
        if sub is not None:
            self.queries.pop(sub_id, None)
            self.channel_subs.get(sub.channel, set()).discard(sub_id)
            self.index.remove(sub_id)

    def sync(self, subs: Iterable[Subscription]) -> None:
        """Make the index hold exactly `subs` (as read from the database)."""
        wanted = {s.id: s for s in subs}
        for sid, sub in self.subs.items() - wanted.items():  # gone, or its id given out again
            if wanted.get(sid) != sub:
                self.remove(sid)
        for sid, sub in wanted.items():
            if sid not in self.subs:
                self.add(sub)

    def sync_channel(self, ref: ChannelRef, subs: Iterable[Subscription]) -> None:
        """Make the index hold exactly `subs` for the channel `ref` (others' are left alone)."""
        wanted = {s.id: s for s in subs}
        for sid in list(self.channel_subs.get(ref, ())):
            if wanted.get(sid) != self.subs.get(sid):
                self.remove(sid)
        for sid, sub in wanted.items():
            if sid not in self.subs:
                self.add(sub)

    def hits(self, seen: Seen) -> Hits:
        """The hits of every subscription matching a seen paper (worked out on first use)."""
        if seen.hits is None:
            seen.hits = self.index.explain_keys(seen.paper, seen.keys)
        return seen.hits

    def _seen(self, papers: Sequence[Paper]) -> list[Seen]:
        out = []
        for paper in papers:
            seen = self._memo.get(paper.id)
            if seen is None or seen.paper != paper:
                seen = Seen(paper, self.index.matching(paper))
                self._memo[paper.id] = seen
                if len(self._memo) > self._memo_size:
                    self._memo.popitem(last=False)
            out.append(seen)
        return out

    def round(self, papers: Sequence[Paper]) -> RoundMatches:
        """The papers matched once for a round over many channels (see RoundMatches)."""
        return RoundMatches(self, self._seen(papers))

    def matches(self, papers: Sequence[Paper]) -> dict[ChannelRef, list[Match]]:
        """Per channel, the papers matching any of its subscriptions, with their hits."""
        found = self.round(papers)
        return {ref: found.for_channel(ref) for ref in found.channels()}

    def matches_for(self, ref: ChannelRef, papers: Sequence[Paper]) -> list[Match]:
        """The papers matching any of one channel's subscriptions."""
        return self.round(papers).for_channel(ref)


class RoundMatches:
    """Which papers each subscription matched, inverted once; a channel's Match objects are
    built only when it asks, so a round over 10,000 channels never holds them all at once."""

    def __init__(self, book: MatchBook, seen: list[Seen]) -> None:
        self._book = book
        self._seen = seen
        self._by_sub: dict[int, list[int]] = {}
        for i, paper in enumerate(seen):
            for sid in paper.keys:
                self._by_sub.setdefault(sid, []).append(i)

    def channels(self) -> set[ChannelRef]:
        """Channels with at least one matching paper."""
        subs = self._book.subs
        return {subs[sid].channel for sid in self._by_sub if sid in subs}

    def for_channel(self, ref: ChannelRef) -> list[Match]:
        """The channel's matches: each paper once, with the hits of all its subscriptions."""
        per_paper: dict[int, list[int]] = {}
        for sid in sorted(self._book.channel_subs.get(ref, ())):
            for i in self._by_sub.get(sid, ()):
                per_paper.setdefault(i, []).append(sid)
        out = []
        for i in sorted(per_paper):
            seen = self._seen[i]
            found = self._book.hits(seen)
            ids = per_paper[i]
            if len(ids) == 1:
                hits = found[ids[0]]
            else:
                hits = tuple(dict.fromkeys(h for sid in ids for h in found[sid]))
            out.append(Match(seen.paper, tuple(ids), hits))
        return out
