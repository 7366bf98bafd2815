"""Matching papers against subscription queries: `explain` for one query, an index for many.

A paper is read once into words per field (bot.text); queries are compiled over interned terms
(bot.evaluate), so a term many queries share is looked for once per paper. The index keeps, for
every distinct query, a few *anchors* (words, adjacent word pairs, two words that must co-occur,
wildcard prefixes, categories) of which at least one must be in a paper for the query to match:
a paper evaluates only the queries whose anchors it contains, plus the rare ones with none
(`upvotes:>=10`).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from itertools import chain
from operator import itemgetter

import ahocorasick

from bot.evaluate import (
    Anchor,
    Compiled,
    CompiledTerm,
    Compiler,
    PaperView,
    Plan,
    cost,
    cover,
)
from bot.evaluate import (
    terms as all_terms,
)
from bot.models import Hit, Paper
from bot.query import Query

TEXT_FIELDS = ("title", "abstract", "authors")
_second = itemgetter(1)
_NONE: frozenset[str] = frozenset()


@lru_cache(maxsize=2048)
def _compiled(query: Query) -> Compiled:
    return Compiler().compile(query.root)


def explain(query: Query, paper: Paper) -> tuple[Hit, ...] | None:
    """Why `paper` matches `query` (which terms, in which field, where), or None if it does not.

    Hits come in query order, each term's in field then text order. An empty tuple means the
    query matched on upvotes alone.
    """
    compiled = _compiled(query)
    view = PaperView(paper)
    if not view.matches(compiled):
        return None
    found: list[CompiledTerm] = []
    view.matched_terms(compiled, found)
    return _hits(view, tuple(dict.fromkeys(found)))


def _hits(view: PaperView, terms: tuple[CompiledTerm, ...]) -> tuple[Hit, ...]:
    """The hits of distinct `terms`, in order."""
    if len(terms) == 1:
        return view.term_hits(terms[0])
    out: list[Hit] = []
    for term in terms:
        out.extend(view.term_hits(term))
    # Two different terms may share a label and a span (`title:video OR video`).
    return tuple(dict.fromkeys(out)) if _shared_label(terms) else tuple(out)


def _shared_label(terms: tuple[CompiledTerm, ...]) -> bool:
    """Whether two of `terms` have the same label (so their hits may repeat)."""
    return len({t.label for t in terms}) < len(terms)


class _Entry:
    """One distinct query in the index (by canonical text) and the keys subscribed to it."""

    __slots__ = ("anchors", "compiled", "keys", "plan", "shared", "sure", "terms")

    def __init__(self, compiled: Compiled) -> None:
        self.compiled = compiled
        self.keys: dict[int, None] = {}
        anchors = cover(compiled)
        self.plan = Plan.of(compiled, _proven(compiled, anchors))
        # The terms a match reports, when they do not depend on the paper.
        self.terms = None if self.plan.walk or self.plan.optional else self.plan.terms
        self.shared = self.terms is not None and _shared_label(self.terms)
        paired = self.plan.anchors()
        if paired is not None and (
            anchors is None
            or (all(kind != "pair" for _, kind, _ in anchors) and cost(paired) < cost(anchors))
        ):
            anchors = paired
        self.anchors = anchors
        kind, payload = compiled
        # A lone word, prefix, category or two-word phrase holds wherever its anchor is found;
        # so does a query of title-or-abstract words that each co-occurrence anchor settles.
        self.sure = (
            kind in ("word", "term") and payload.exact_anchor and anchors == payload.anchors
        ) or _settled(self.plan, anchors)


def _settled(plan: Plan, anchors: list[Anchor] | None) -> bool:
    """Whether finding any of `anchors` proves the plan holds: they are all co-occurrences, and
    each pair alone holds every required word and one word of every group (nothing else to test)."""
    if not anchors or plan.forbidden or plan.prefixes or plan.phrases or plan.rest is not None:
        return False
    for _, kind, value in anchors:
        if kind != "cooc":
            return False
        both = frozenset(value)  # type: ignore[arg-type]
        if not plan.required <= both or any(both.isdisjoint(g) for g in plan.groups):
            return False
    return True


def _proven(compiled: Compiled, anchors: list[Anchor] | None) -> CompiledTerm | None:
    """The term of an AND whose exact anchors are the query's: present whenever it is a candidate."""
    if compiled[0] != "and" or anchors is None:
        return None
    for kind, payload in compiled[1]:
        if kind == "term" and payload.exact_anchor and payload.anchors == anchors:
            return payload  # type: ignore[no-any-return]
    return None


class SubscriptionIndex:
    """All subscriptions, indexed so that a paper evaluates only the queries it may match."""

    def __init__(self) -> None:
        self._compiler = Compiler()
        self._by_canonical: dict[str, _Entry] = {}
        self._by_key: dict[int, _Entry] = {}
        self._canonical: dict[int, str] = {}
        # (field, anchor kind) -> anchor value -> entries (a dict used as an ordered set)
        self._postings: dict[tuple[str, str], dict[object, dict[_Entry, None]]] = {}
        # word -> other word -> entries that need both in the title or abstract
        self._cooc: dict[str, dict[str, dict[_Entry, None]]] = {}
        self._always: dict[_Entry, None] = {}
        self._automata: dict[str, ahocorasick.Automaton | None] = {}
        # field -> wildcard prefix -> how many terms use it
        self._prefix_uses: dict[str, dict[str, int]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def add(self, key: int, query: Query) -> None:
        """Subscribe `key` to `query` (replacing what `key` had)."""
        if key in self._by_key:
            self.remove(key)
        entry = self._by_canonical.get(query.canonical)
        if entry is None:
            entry = _Entry(self._compiler.compile(query.root))
            self._by_canonical[query.canonical] = entry
            self._post(entry, add=True)
            self._count_prefixes(entry, +1)
        entry.keys[key] = None
        self._by_key[key] = entry
        self._canonical[key] = query.canonical

    def remove(self, key: int) -> None:
        """Drop `key`'s subscription; nothing happens if there is none."""
        entry = self._by_key.pop(key, None)
        if entry is None:
            return
        canonical = self._canonical.pop(key)
        del entry.keys[key]
        if not entry.keys:
            del self._by_canonical[canonical]
            self._post(entry, add=False)
            self._count_prefixes(entry, -1)
            self._compiler.release(entry.compiled)

    def match(self, paper: Paper) -> dict[int, tuple[Hit, ...]]:
        """The keys whose query matches `paper`, each with its hits."""
        view = PaperView(paper)
        return self._explain(view, self._evaluate(view, self._candidates(view)))

    def matching(self, paper: Paper) -> list[int]:
        """The keys whose query matches `paper`: `match` without working out the hits, for a
        caller that explains only the matches it shows (see explain_keys)."""
        view = PaperView(paper)
        return [key for entry in self._evaluate(view, self._candidates(view)) for key in entry.keys]

    def explain_keys(self, paper: Paper, keys: Iterable[int]) -> dict[int, tuple[Hit, ...]]:
        """The hits in `paper` of the queries of `keys`, which match it (as `matching` said);
        keys no longer in the index are left out. Every key sharing one of those queries is
        explained too."""
        by_key = self._by_key
        entries = list(dict.fromkeys(by_key[key] for key in keys if key in by_key))
        return self._explain(PaperView(paper), entries)

    def _evaluate(self, view: PaperView, candidates: Iterable[_Entry]) -> list[_Entry]:
        """The candidates whose query holds for the paper."""
        anywhere = view.keys_in("any")
        has_all, has_none = anywhere.issuperset, anywhere.isdisjoint
        # The wildcards starting a title or abstract word (the candidate scan found them all).
        wild = view.prefixes.get("title", _NONE) | view.prefixes.get("abstract", _NONE)
        spaced: str | None = None
        matched: list[_Entry] = []
        for entry in candidates:
            if not entry.sure:
                plan = entry.plan
                if plan.required and not has_all(plan.required):
                    continue
                if plan.forbidden and not has_none(plan.forbidden):
                    continue
                if plan.groups and any(map(has_none, plan.groups)):
                    continue
                if plan.prefixes and not wild.issuperset(plan.prefixes):
                    continue
                if plan.phrases:
                    if spaced is None:  # both fields' keys, apart so no phrase spans the two
                        spaced = f"{view.tokens('title').spaced_keys}|{view.tokens('abstract').spaced_keys}"
                    if not all(map(spaced.__contains__, plan.phrases)):
                        continue
                if plan.rest is not None and not view.matches(plan.rest):
                    continue
            matched.append(entry)
        return matched

    def _explain(self, view: PaperView, entries: list[_Entry]) -> dict[int, tuple[Hit, ...]]:
        """Each key of the matching `entries` with its hits in the paper."""
        if not entries:
            return {}
        anywhere = view.keys_in("any")
        matched: list[tuple[_Entry, tuple[CompiledTerm, ...]]] = []
        for entry in entries:
            terms = entry.terms
            if terms is None:
                plan = entry.plan
                if plan.walk:
                    found: list[CompiledTerm] = []
                    view.matched_terms(entry.compiled, found)
                    terms = tuple(dict.fromkeys(found))
                else:
                    terms = tuple(t for t, maybe in plan.report if not maybe or t.key in anywhere)
            matched.append((entry, terms))
        # Every matched term's places found together (one pass per field for the words).
        view.collect_hits(dict.fromkeys(chain.from_iterable(terms for _, terms in matched)))
        memo = view.hits  # now holds every matched term: joined here without a call per term
        out: dict[int, tuple[Hit, ...]] = {}
        for entry, terms in matched:
            if len(terms) == 1:
                hits = memo[terms[0].id]
            else:
                joined: list[Hit] = []
                for term in terms:
                    joined += memo[term.id]
                shared = entry.shared if terms is entry.terms else _shared_label(terms)
                # Two different terms may share a label and a span (`title:video OR video`).
                hits = tuple(dict.fromkeys(joined)) if shared else tuple(joined)
            for key in entry.keys:
                out[key] = hits
        return out

    def match_many(self, papers: Iterable[Paper]) -> dict[str, dict[int, tuple[Hit, ...]]]:
        """`match` for each paper, by paper id (a paper that matches nothing maps to {})."""
        return {paper.id: self.match(paper) for paper in papers}

    def matching_many(self, papers: Iterable[Paper]) -> dict[str, list[int]]:
        """`matching` for each paper, by paper id."""
        return {paper.id: self.matching(paper) for paper in papers}

    def candidates(self, paper: Paper) -> int:
        """How many distinct queries `paper` would evaluate (a figure for benchmarks and tuning)."""
        return len(self._candidates(PaperView(paper)))

    def _candidates(self, view: PaperView) -> dict[_Entry, None]:
        # Posting dicts gathered, then chained and deduplicated in C: no loop per entry here.
        found: list[Iterable[_Entry]] = [self._always]
        postings = self._postings
        for field in TEXT_FIELDS:
            words = postings.get((field, "word"))
            pairs = postings.get((field, "pair"))
            prefixes = postings.get((field, "prefix"))
            if not words and not pairs and not self._prefix_uses.get(field):
                continue
            tokens = view.tokens(field)
            if words:
                found.extend(map(words.__getitem__, words.keys() & tokens.keyset))
            if pairs:
                # Filtering the adjacent pairs as they are made beats building a set of them.
                found.extend(map(pairs.__getitem__, filter(pairs.__contains__, tokens.pairwise())))
            if self._prefix_uses.get(field):
                # One scan finds every wildcard of the index in this field: anchors pull in
                # their queries, and the view learns which wildcards hold (no search later).
                present = set(map(_second, self._automaton(field).iter(tokens.spaced_words)))
                view.prefixes[field] = present
                if prefixes:
                    found.extend(map(prefixes.__getitem__, prefixes.keys() & present))
        if self._cooc:
            anywhere = view.keys_in("any")
            meets = anywhere.intersection
            for first in self._cooc.keys() & anywhere:
                seconds = self._cooc[first]
                found.extend(map(seconds.__getitem__, meets(seconds)))
        cats = postings.get(("categories", "cat"))
        cat_prefixes = postings.get(("categories", "catprefix"))
        if cats or cat_prefixes:
            for name, _, _ in view.categories:
                if cats and name in cats:
                    found.append(cats[name])
                for prefix, entries in (cat_prefixes or {}).items():
                    if name.startswith(prefix):  # type: ignore[attr-defined]
                        found.append(entries)
        return dict.fromkeys(chain.from_iterable(found))

    def _post(self, entry: _Entry, *, add: bool) -> None:
        if entry.anchors is None:
            if add:
                self._always[entry] = None
            else:
                del self._always[entry]
            return
        for field, kind, value in entry.anchors:
            if kind == "cooc":
                first, second = value
                _toggle(self._cooc.setdefault(first, {}), second, entry, add)
                if not self._cooc[first]:
                    del self._cooc[first]
                continue
            _toggle(self._postings.setdefault((field, kind), {}), value, entry, add)

    def _count_prefixes(self, entry: _Entry, step: int) -> None:
        """Count the one-wildcard terms of `entry` per field (the automaton looks for them all)."""
        for term in all_terms(entry.compiled):
            if term.scope == "cat" or len(term.parts) > 1 or not term.parts[0][1]:
                continue
            for field in term.fields:
                uses = self._prefix_uses.setdefault(field, {})
                uses[term.key] = uses.get(term.key, 0) + step
                if uses[term.key] in (0, 1) and (step > 0) == (uses[term.key] == 1):
                    self._automata[field] = None  # the set changed: rebuilt on the next match
                if not uses[term.key]:
                    del uses[term.key]

    def _automaton(self, field: str) -> ahocorasick.Automaton:
        """The Aho-Corasick automaton that finds every wildcard prefix of a field's queries in
        one scan of its words joined by spaces, each as " prefix" (so only at a word's start)."""
        automaton = self._automata.get(field)
        if automaton is None:
            automaton = ahocorasick.Automaton()
            for prefix in self._prefix_uses[field]:
                automaton.add_word(f" {prefix}", prefix)
            automaton.make_automaton()
            self._automata[field] = automaton
        return automaton


def _toggle(table: dict, value: object, entry: _Entry, add: bool) -> None:  # type: ignore[type-arg]
    """Add `entry` under `value` in a posting table, or remove it (and the value if emptied)."""
    if add:
        table.setdefault(value, {})[entry] = None
        return
    del table[value][entry]
    if not table[value]:
        del table[value]
