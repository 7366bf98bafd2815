"""The matcher's inner loops: what a paper's words reach in the index's tables, and which of
the queries they pull in pass their set checks.

These few functions are where matching spends its time (a few hundred dictionary and set
probes per paper, most of them cache misses), so they come twice, behind one `Kernel`: the
Python reference here, and the same contracts in C (`bot/query/_gather.c`), built by `pip install`
where a C compiler is at hand. `BEST` is the compiled kernel when it was built, else the
reference. The tests run the index on both, against each other and against the naive matcher.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from itertools import compress, filterfalse, pairwise, repeat
from operator import is_, is_not, itemgetter
from typing import Any, NamedTuple

from bot.query.postings import FOLLOWERS, OWN, PARTNERS, SEQUENCES, Posting

_own, _partners = itemgetter(OWN), itemgetter(PARTNERS)

# What evaluating a query tests first: (required, forbidden, groups, lowest, highest, more):
# every required key is in the paper's title and abstract, no forbidden one is, each group has
# one there, its upvotes are within [lowest, highest]; `more` says the query has other tests
# left (phrases, fields...).
Checks = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, ...], ...], int, int, bool]
# A row of bot.query.postings's vocabulary (own, partners, partner hashes) or of its leaders
# (followers of either field, of the title, of the abstract).
Row = tuple[Any, ...]


def gather_python(
    present: frozenset[str],
    sequences: tuple[tuple[str, ...], ...],
    vocabulary: dict[str, Row],
    leaders: dict[str, Row],
    pair_filter: bytearray,
    pair_bits: int,
    proven: set[int],
    candidates: dict[Hashable, Checks],
) -> None:
    """Add to `proven` the keys, and to `candidates` the entries with their checks, of every
    posting the paper reaches: for each word w of `present` in `vocabulary`, w's own posting
    and those of its partners in `present`; for each word w of `sequences` (the title's keys,
    then the abstract's) in `leaders`, those of the word after it (of either field, or of this
    field alone).

    `pair_filter` (bot.query.postings's, of 2**pair_bits slots) lets the C step skip most pairs
    without a lookup; this reference, which looks pairs up only after words that start one,
    does not need it."""
    vocables = list(map(vocabulary.__getitem__, vocabulary.keys() & present))
    found = list(filter(None, map(_own, vocables)))
    # Most words that start a co-occurrence meet none of their partners: passed over in C.
    for partners in filterfalse(present.isdisjoint, filter(None, map(_partners, vocables))):
        found += map(partners.__getitem__, partners.keys() & present)
    for field, keys in zip(SEQUENCES, sequences, strict=False):
        for first, second in compress(pairwise(keys), map(leaders.__contains__, keys)):
            row = leaders[first]
            for followers in (row[FOLLOWERS["any"]], row[FOLLOWERS[field]]):
                if followers and second in followers:
                    found.append(followers[second])
    merge_python(found, proven, candidates)


def merge_python(
    postings: Iterable[Posting], proven: set[int], candidates: dict[Hashable, Checks]
) -> None:
    """Add the keys of `postings` (items mapped to None) to `proven`, and their entries (items
    mapped to their checks) to `candidates`."""
    for posting in postings:
        if None in posting.values():
            proven.update(compress(posting, map(is_, posting.values(), repeat(None))))
        candidates.update(compress(posting.items(), map(is_not, posting.values(), repeat(None))))


def evaluate_python(
    candidates: dict[Hashable, Checks], present: frozenset[str], upvotes: int
) -> tuple[list, list]:  # type: ignore[type-arg]
    """The candidates whose Checks hold for `present` and a paper of `upvotes`: those with
    nothing more to test (matched), and those with more (pending), in order."""
    has = present.__contains__
    matched: list[Hashable] = []
    pending: list[Hashable] = []
    for entry, (required, forbidden, groups, lowest, highest, more) in candidates.items():
        if (
            lowest <= upvotes <= highest
            and all(map(has, required))
            and not any(map(has, forbidden))
            and all(any(map(has, group)) for group in groups)
        ):
            (pending if more else matched).append(entry)
    return matched, pending


def wildcards_python(
    words: tuple[str, ...], table: Mapping[str, tuple[str, ...]], shortest: int
) -> set[str]:
    """Every wildcard that `table` (a dict whose `__missing__` fills it) gives for one of `words`
    at least `shortest` characters long (no shorter word starts with a wildcard's prefix)."""
    return set().union(*(table[word] for word in words if len(word) >= shortest))


class Kernel(NamedTuple):
    """One implementation of the inner loops."""

    name: str
    gather: Callable[..., None]
    merge: Callable[..., None]
    evaluate: Callable[..., tuple[list, list]]
    wildcards: Callable[..., set[str]]


PYTHON = Kernel("Python reference", gather_python, merge_python, evaluate_python, wildcards_python)


def _compiled() -> Kernel | None:
    try:
        from bot.query import _gather
    except ImportError:  # no C compiler where paperbot was installed: the reference serves
        return None
    return Kernel("compiled (bot.query._gather)", _gather.gather, _gather.merge, _gather.evaluate,
                  _gather.wildcards)  # fmt: skip


COMPILED = _compiled()
BEST = COMPILED or PYTHON
