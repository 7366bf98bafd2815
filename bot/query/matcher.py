"""Matching papers against subscription queries: `explain` for one query, an index for many.

A paper is read once into words per field (bot.query.text); queries are compiled over interned terms
(bot.query.evaluate), so a term many queries share is looked for once per paper. The index keeps, for
every distinct query, a few *anchors* (words, adjacent word pairs, two words that must co-occur,
wildcard prefixes, categories) of which at least one must be in a paper for the query to match:
a paper evaluates only the queries whose anchors it contains, plus the rare ones with none
(`upvotes:>=10`). Where an anchor alone proves the query (a one-word, one-phrase or one-wildcard
query, an OR of those, two words that must co-occur), finding it matches the query's
subscriptions outright, with no evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from itertools import chain
from operator import attrgetter

from bot.models import Hit, Paper
from bot.query.evaluate import (
    Anchor,
    Compiled,
    CompiledTerm,
    Compiler,
    PaperView,
    Plan,
    cost,
    cover,
)
from bot.query.evaluate import (
    terms as all_terms,
)
from bot.query.gather import BEST, Checks, Kernel
from bot.query.language import Query, Upvotes
from bot.query.postings import Posting, Postings, Wildcards

TEXT_FIELDS = ("title", "abstract", "authors")


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


class Entry:
    """One distinct query in the index (by canonical text) and the keys subscribed to it.

    Many subscriptions share a query; a caller that keeps matches for many papers keeps them
    per entry (see `matching_entries`), not per key."""

    __slots__ = (
        "anchors",
        "canonical",
        "checks",
        "compiled",
        "keys",
        "plan",
        "proofs",
        "shared",
        "terms",
    )

    def __init__(self, canonical: str, compiled: Compiled) -> None:
        self.canonical = canonical
        self.compiled = compiled
        self.keys: dict[int, None] = {}
        anchors = cover(compiled)
        plan = Plan.of(compiled, _proven(compiled, anchors))
        paired = plan.anchors()
        if paired is not None and (
            anchors is None
            or (all(kind != "pair" for _, kind, _ in anchors) and cost(paired) < cost(anchors))
        ):
            # A term the cover's anchors proved present is not proven by the pair: plan again.
            anchors = paired
            plan = Plan.of(compiled, _proven(compiled, anchors))
        self.plan = plan
        # What bot.query.gather.evaluate tests of the plan (and whether anything is left after).
        self.checks: Checks = (
            tuple(plan.required),
            tuple(plan.forbidden),
            tuple(map(tuple, plan.groups)),
            *_upvote_range(plan.upvotes),
            bool(plan.phrases or plan.fielded) or plan.rest is not None,
        )
        # The terms a match reports, when they do not depend on the paper.
        self.terms = None if self.plan.walk or self.plan.optional else self.plan.terms
        self.shared = self.terms is not None and _shared_label(self.terms)
        self.anchors = anchors
        # The anchors whose presence alone proves the query holds: a paper that has one matches
        # without evaluating it (most subscriptions are one word, one phrase or one wildcard).
        self.proofs = _proofs(compiled, self.plan, anchors)


# The ends of an open upvote range: C long longs, and one shared object each, so the checks of
# the many queries without an upvotes clause point at the same two (no extra memory to read).
_MOST = 2**62
_LEAST = -_MOST


def _upvote_range(upvotes: tuple[Upvotes, ...]) -> tuple[int, int]:
    """The upvote counts every one of `upvotes` accepts, as an inclusive range (empty when
    lowest > highest; all counts when there are none)."""
    lowest, highest = _LEAST, _MOST
    for low, high in map(Upvotes.bounds, upvotes):
        if low is not None:
            lowest = max(lowest, min(low, _MOST))
        if high is not None:
            highest = min(highest, max(high, _LEAST))
    return lowest, highest


def _proofs(compiled: Compiled, plan: Plan, anchors: list[Anchor] | None) -> frozenset[Anchor]:
    """The anchors of which any one, found in a paper, proves `compiled` matches it: a lone
    term's exact anchors (a word, a wildcard, a category, a two-word phrase), those of the
    one-term branches of an OR, or co-occurrences that settle a plan of words."""
    if not anchors:
        return frozenset()
    kind, payload = compiled
    if kind in ("word", "term"):
        return (
            frozenset(anchors)
            if payload.exact_anchor and anchors == payload.anchors
            else frozenset()
        )
    if kind == "or":
        exact = {
            anchor
            for branch, term in payload
            if branch in ("word", "term") and term.exact_anchor
            for anchor in term.anchors
        }
        return frozenset(exact.intersection(anchors))
    return frozenset(anchors) if _settled(plan, anchors) else frozenset()


def _settled(plan: Plan, anchors: list[Anchor]) -> bool:
    """Whether finding any of `anchors` proves the plan holds: they are all co-occurrences, and
    each pair alone holds every required word or wildcard and one word of every group (nothing
    else to test)."""
    if plan.forbidden or plan.phrases or plan.fielded or plan.upvotes or plan.rest is not None:
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


_subscribers = attrgetter("keys")  # of an Entry


class SubscriptionIndex:
    """All subscriptions, indexed so that a paper evaluates only the queries it may match."""

    def __init__(self, kernel: Kernel = BEST) -> None:
        self._kernel = kernel  # the inner loops: compiled where built (see bot.query.gather)
        self._compiler = Compiler()
        self._by_canonical: dict[str, Entry] = {}
        self._by_key: dict[int, Entry] = {}
        self._postings = Postings()
        self._always: dict[Entry, Checks] = {}  # queries with no anchor (`upvotes:>=10`...)
        self._wildcards = Wildcards()  # of every text field (a wildcard starts a word or not)

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
            entry = Entry(query.canonical, self._compiler.compile(query.root))
            self._by_canonical[query.canonical] = entry
            self._post(entry, add=True)
            self._count_prefixes(entry, +1)
        entry.keys[key] = None
        for anchor in entry.proofs:
            self._postings.add_key(anchor, key)
        self._by_key[key] = entry

    def remove(self, key: int) -> None:
        """Drop `key`'s subscription; nothing happens if there is none."""
        entry = self._by_key.pop(key, None)
        if entry is None:
            return
        del entry.keys[key]
        for anchor in entry.proofs:
            self._postings.remove_key(anchor, key)
        if not entry.keys:
            del self._by_canonical[entry.canonical]
            self._post(entry, add=False)
            self._count_prefixes(entry, -1)
            self._compiler.release(entry.compiled)

    def match(self, paper: Paper) -> dict[int, tuple[Hit, ...]]:
        """The keys whose query matches `paper`, each with its hits."""
        view = PaperView(paper)
        proven, evaluated = self._decide(view)
        entries = dict.fromkeys(chain(map(self._by_key.__getitem__, proven), evaluated))
        return self._explain(view, list(entries))

    def matching(self, paper: Paper) -> list[int]:
        """The keys whose query matches `paper`: `match` without working out the hits, for a
        caller that explains only the matches it shows (see explain_entries)."""
        proven, evaluated = self._decide(PaperView(paper))
        proven.update(chain.from_iterable(map(_subscribers, evaluated)))
        return list(proven)

    def matching_entries(self, paper: Paper) -> list[Entry]:
        """The distinct queries that match `paper` (each entry's keys are its subscribers)."""
        proven, evaluated = self._decide(PaperView(paper))
        return list(dict.fromkeys(chain(map(self._by_key.__getitem__, proven), evaluated)))

    def entry(self, key: int) -> Entry | None:
        """The query `key` is subscribed to, or None."""
        return self._by_key.get(key)

    def explain_entries(
        self, paper: Paper, entries: Iterable[Entry]
    ) -> dict[Entry, tuple[Hit, ...]]:
        """The hits in `paper` of `entries`, which match it (as `matching_entries` said)."""
        return self._explain_entries(PaperView(paper), list(entries))

    def _decide(self, view: PaperView) -> tuple[set[int], list[Entry]]:
        """The keys that an anchor found in the paper proves matched, and the other queries
        that hold once evaluated."""
        proven, candidates, present = self._gather(view)
        return proven, self._evaluate(view, present, candidates)

    def _gather(self, view: PaperView) -> tuple[set[int], dict[Entry, Checks], frozenset[str]]:
        """The keys an anchor in the paper proves matched, the queries to evaluate, and what is
        present in its title and abstract: their keys, and the wildcards (starred) that start
        one of their words."""
        proven: set[int] = set()
        candidates = self._always.copy()
        title, abstract = view.tokens("title"), view.tokens("abstract")
        if self._wildcards.uses:
            # Anchors pull in the queries of the wildcards found, and the view learns which
            # wildcards hold (no search later).
            view.prefixes["title"] = in_title = self._wildcards_in(title.words)
            view.prefixes["abstract"] = in_abstract = self._wildcards_in(abstract.words)
            present = view.keys_with(in_title, in_abstract)
        else:
            present = view.keys_in("any")
        sequences = (title.keys, abstract.keys)  # in the order of bot.query.postings.SEQUENCES
        tables = self._postings
        self._kernel.gather(
            present,
            sequences,
            tables.vocabulary,
            tables.leaders,
            tables.pairs,
            tables.pair_bits,
            proven,
            candidates,
        )
        found = self._scan_fields(view)
        if found:
            self._kernel.merge(found, proven, candidates)
        return proven, candidates, present

    def _wildcards_in(self, words: tuple[str, ...]) -> set[str]:
        """The index's wildcards (starred) that start one of `words`."""
        table = self._wildcards
        return self._kernel.wildcards(words, table, table.shortest)

    def _evaluate(
        self, view: PaperView, present: frozenset[str], candidates: dict[Entry, Checks]
    ) -> list[Entry]:
        """The candidates whose query holds for the paper; `present` holds the keys of its
        title and abstract, and the wildcards that start one of their words."""
        matched, pending = self._kernel.evaluate(candidates, present, view.paper.upvotes or 0)
        spaced: str | None = None
        for entry in pending:  # the plan's set tests hold: its phrases and the rest are left
            plan = entry.plan
            if plan.phrases:
                if spaced is None:  # both fields' keys, apart so no phrase spans the two
                    spaced = (
                        f"{view.tokens('title').spaced_keys}|{view.tokens('abstract').spaced_keys}"
                    )
                if not all(map(spaced.__contains__, plan.phrases)):
                    continue
            if plan.fielded and not all(
                phrase in view.tokens(field).spaced_keys for field, phrase in plan.fielded
            ):
                continue
            if plan.rest is not None and not view.matches(plan.rest):
                continue
            matched.append(entry)
        return matched

    def _explain(self, view: PaperView, entries: list[Entry]) -> dict[int, tuple[Hit, ...]]:
        """Each key of the matching `entries` with its hits in the paper."""
        return {
            key: hits
            for entry, hits in self._explain_entries(view, entries).items()
            for key in entry.keys
        }

    def _explain_entries(
        self, view: PaperView, entries: list[Entry]
    ) -> dict[Entry, tuple[Hit, ...]]:
        """Each of the matching `entries` with its hits in the paper."""
        if not entries:
            return {}
        anywhere = view.keys_in("any")
        matched: list[tuple[Entry, tuple[CompiledTerm, ...]]] = []
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
        out: dict[Entry, tuple[Hit, ...]] = {}
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
            out[entry] = hits
        return out

    def match_many(self, papers: Iterable[Paper]) -> dict[str, dict[int, tuple[Hit, ...]]]:
        """`match` for each paper, by paper id (a paper that matches nothing maps to {})."""
        return {paper.id: self.match(paper) for paper in papers}

    def matching_many(self, papers: Iterable[Paper]) -> dict[str, list[int]]:
        """`matching` for each paper, by paper id."""
        return {paper.id: self.matching(paper) for paper in papers}

    def workload(self, paper: Paper) -> tuple[int, int]:
        """How many distinct queries an anchor proves for `paper`, and how many it evaluates
        (figures for benchmarks and tuning)."""
        proven, candidates, _ = self._gather(PaperView(paper))
        return len({self._by_key[key] for key in proven}), len(candidates)

    def _scan_fields(self, view: PaperView) -> list[Posting]:
        """The postings of the paper's anchors of one field (`title:`, `abstract:`, `author:`)
        and of its categories."""
        found: list[Posting] = []
        postings = self._postings.fields
        for field in TEXT_FIELDS:  # terms of one field: `title:`, `abstract:`, `author:`
            words = postings.get((field, "word"))
            pairs = postings.get((field, "pair"))
            prefixes = postings.get((field, "prefix"))
            if not words and not pairs and not prefixes:
                continue
            tokens = view.tokens(field)
            if words:
                found += map(words.__getitem__, filter(words.__contains__, tokens.keys))
            if pairs:
                found += map(pairs.__getitem__, filter(pairs.__contains__, tokens.pairwise()))
            if prefixes:
                here = view.prefixes.get(field)
                if here is None:
                    view.prefixes[field] = here = self._wildcards_in(tokens.words)
                found += map(prefixes.__getitem__, prefixes.keys() & here)
        cats = postings.get(("categories", "cat"))
        cat_prefixes = postings.get(("categories", "catprefix"))
        if cats or cat_prefixes:
            for name, _, _ in view.categories:
                if cats and name in cats:
                    found.append(cats[name])
                for prefix, posting in (cat_prefixes or {}).items():
                    if name.startswith(prefix):  # type: ignore[attr-defined]
                        found.append(posting)
        return found

    def _post(self, entry: Entry, *, add: bool) -> None:
        """Make `entry` a candidate under its anchors that do not prove it (or drop it)."""
        if entry.anchors is None:
            if add:
                self._always[entry] = entry.checks
            else:
                del self._always[entry]
            return
        for anchor in entry.anchors:
            if anchor in entry.proofs:
                continue  # its keys are posted one by one (add and remove)
            if add:
                self._postings.add_entry(anchor, entry, entry.checks)
            else:
                self._postings.remove_entry(anchor, entry)

    def _count_prefixes(self, entry: Entry, step: int) -> None:
        """Count the one-wildcard text terms of `entry` (the wildcard table looks for them all)."""
        for term in all_terms(entry.compiled):
            if term.scope != "cat" and len(term.parts) == 1 and term.parts[0][1]:
                self._wildcards.count(term.key, step)
