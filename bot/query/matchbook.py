"""Every channel's subscriptions in one index, with each paper's matches worked out once."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

from bot.models import ChannelRef, Hit, Match, Paper, Subscription
from bot.query.language import QueryError, parse
from bot.query.matcher import Entry, SubscriptionIndex, explain

Hits = dict[Entry, tuple[Hit, ...]]


class Seen:
    """A paper the book has matched: which of the index's distinct queries match it, and their
    hits once some digest, preview or search needs them (worked out then, for all of them at
    once). Kept per query, not per subscription: the delivery benchmark's 30,000 subscriptions
    share 3,533 queries, and its 2,000 papers match 75,203 (query, paper) pairs against
    638,003 (subscription, paper) ones."""

    __slots__ = ("entries", "hits", "paper")

    def __init__(self, paper: Paper, entries: list[Entry]) -> None:
        self.paper = paper
        self.entries = entries
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
        self.channel_subs.setdefault(sub.channel, set()).add(sub.id)
        self.index.add(sub.id, query)
        entry = self.index.entry(sub.id)
        if entry is None or len(entry.keys) > 1:
            return  # a query the index had: the memo already says which papers it matches
        for seen in self._memo.values():
            found = explain(query, seen.paper)
            if found is not None:
                seen.entries.append(entry)
                if seen.hits is not None:
                    seen.hits[entry] = found

    def remove(self, sub_id: int) -> None:
        """Forget a subscription."""
        sub = self.subs.pop(sub_id, None)
        if sub is not None:
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
            # An entry with no keys left was dropped from the index (its terms' ids may be
            # given out again): never explained.
            live = [entry for entry in seen.entries if entry.keys]
            seen.hits = self.index.explain_entries(seen.paper, live)
        return seen.hits

    def _seen(self, papers: Sequence[Paper]) -> list[Seen]:
        out = []
        for paper in papers:
            seen = self._memo.get(paper.id)
            if seen is None or seen.paper != paper:
                seen = Seen(paper, self.index.matching_entries(paper))
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
        self._by_entry: dict[Entry, list[int]] = {}
        for i, paper in enumerate(seen):
            for entry in paper.entries:
                self._by_entry.setdefault(entry, []).append(i)

    def channels(self) -> set[ChannelRef]:
        """Channels with at least one matching paper."""
        subs = self._book.subs
        return {subs[sid].channel for entry in self._by_entry for sid in entry.keys if sid in subs}

    def for_channel(self, ref: ChannelRef) -> list[Match]:
        """The channel's matches: each paper once, with the hits of all its subscriptions."""
        index = self._book.index
        per_paper: dict[int, list[tuple[int, Entry]]] = {}
        for sid in sorted(self._book.channel_subs.get(ref, ())):
            entry = index.entry(sid)
            if entry is None:
                continue
            for i in self._by_entry.get(entry, ()):
                per_paper.setdefault(i, []).append((sid, entry))
        out = []
        for i in sorted(per_paper):
            seen = self._seen[i]
            found = self._book.hits(seen)
            pairs = per_paper[i]
            if len(pairs) == 1:
                hits = found[pairs[0][1]]
            else:
                hits = tuple(dict.fromkeys(h for _, entry in pairs for h in found[entry]))
            out.append(Match(seen.paper, tuple(sid for sid, _ in pairs), hits))
        return out
