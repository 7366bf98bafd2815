"""The subscription index's tables: for each anchor, what finding it in a paper says.

An anchor's *posting* is one dict: the subscriptions (int keys, mapped to None) whose query
finding it alone proves matched, and the queries (entries, mapped to their checks) it makes
worth evaluating. One dict, not two, and None rather than an empty one: every object a lookup
reaches is a likely cache miss, so there are as few as the data allows.

The anchors of the title and abstract together live in two tables. The `vocabulary`: a word or
wildcard (`graph*`) -> a *vocable*, the tuple (own, partners, partner hashes): its own posting,
and the words and wildcards it co-occurs with (a dict, or None, of word -> posting) with their
hashes packed in bytes. A paper looks each of its words up there once. The `leaders`: a word that
starts a phrase -> its followers (of a phrase of either field, of the title's own, of the
abstract's own), each a dict (or None) of the next word -> posting. Most words of a paper start
some phrase of some subscription, and few are followed by the next word of one, so `pairs` tells,
before any leader is touched, which adjacent two words may be an anchor: a table of counts
indexed by `pair_slot` of the two words' hashes (a Bloom filter that forgets: a count goes back
to 0 when its last pair goes). bot.query.gather reads this layout directly (in C where built).

Other anchors (of one field, `title:`..., or categories) live in `fields`: (field, kind) ->
value -> posting. Which wildcards start a word is told by `Wildcards`, word by word.
"""

from __future__ import annotations

from array import array
from operator import itemgetter
from typing import Any

import ahocorasick

from bot.query.evaluate import Anchor

OWN, PARTNERS, PARTNER_HASHES = 0, 1, 2  # a vocable
# A leader's followers: of a phrase of either field, of the title's own (`title:"a b"`), of the
# abstract's own; a paper's title keys are read against slot 1, its abstract's against slot 2.
FOLLOWERS = {"any": 0, "title": 1, "abstract": 2}
SEQUENCES = (
    "title",
    "abstract",
)  # the fields whose keys bot.query.gather reads pairs from, in order
PAIR_BITS = 18  # 256 KB, probed for every two adjacent words: kept small enough to stay in cache
_MASK = (1 << 64) - 1


def pair_slot(first: str, second: str, bits: int) -> int:
    """Where the pair (first, second) counts in a pair filter of 2**bits slots: mixed from the
    two strings' hashes in 64-bit arithmetic (bot/query/_gather.c computes the same)."""
    mixed = ((hash(first) & _MASK) * 0x9E3779B97F4A7C15 & _MASK) ^ (hash(second) & _MASK)
    return (mixed * 0xC2B2AE3D27D4EB4F & _MASK) >> (64 - bits)


Posting = dict[Any, Any]  # int key -> None | entry -> its checks
_NONE = (None, None, None)


def _hashes(partners: dict[str, Posting] | None) -> bytes | None:
    """The hashes of `partners`' words, packed: the C step tests them against the paper's
    words without reading each partner's string (a likely cache miss when it is not there)."""
    return array("q", map(hash, partners)).tobytes() if partners else None


def _edited(posting: Posting | None, item: object, value: object, add: bool) -> Posting | None:
    """`posting` with `item` (mapped to `value`) added, or removed; None once empty."""
    if add:
        if posting is None:
            return {item: value}
        posting[item] = value
        return posting
    del posting[item]  # type: ignore[index]
    return posting or None


def _edited_table(
    table: dict[Any, Posting] | None, at: object, item: object, value: object, add: bool
) -> dict[Any, Posting] | None:
    """`table` (anchor value -> posting, or None) with the posting at `at` edited as in _edited;
    a posting left empty leaves the table, and an empty table is None."""
    before = None if table is None else table.get(at)
    after = _edited(before, item, value, add)
    if after is None:
        del table[at]  # type: ignore[index]
        return table or None
    if before is None:
        if table is None:
            table = {}
        table[at] = after
    return table


class Postings:
    """Every anchor's posting, edited one key or one entry at a time."""

    def __init__(self, pair_bits: int = PAIR_BITS) -> None:
        self.vocabulary: dict[str, tuple[Any, ...]] = {}
        self.leaders: dict[str, tuple[Any, ...]] = {}
        self.fields: dict[tuple[str, str], dict[Any, Posting]] = {}
        self.pair_bits = pair_bits
        self.pairs = bytearray(1 << pair_bits)  # pair_slot -> how many pair anchors (at most 255)

    def add_key(self, anchor: Anchor, key: int) -> None:
        """Finding `anchor` proves subscription `key` matched."""
        self._edit(anchor, key, None, add=True)

    def remove_key(self, anchor: Anchor, key: int) -> None:
        self._edit(anchor, key, None, add=False)

    def add_entry(self, anchor: Anchor, entry: object, checks: object) -> None:
        """Finding `anchor` makes `entry` (a query, with its checks) worth evaluating."""
        self._edit(anchor, entry, checks, add=True)

    def remove_entry(self, anchor: Anchor, entry: object) -> None:
        self._edit(anchor, entry, None, add=False)

    def _edit(self, anchor: Anchor, item: object, value: object, add: bool) -> None:
        field, kind, at = anchor
        if kind == "pair" and field in FOLLOWERS:
            self._edit_row(self.leaders, at[0], FOLLOWERS[field], at[1], item, value, add)  # type: ignore[index]
        elif field != "any":
            where = (field, kind)
            table = _edited_table(self.fields.get(where), at, item, value, add)
            if table is None:
                del self.fields[where]
            else:
                self.fields[where] = table
        elif kind == "cooc":
            self._edit_row(self.vocabulary, at[0], PARTNERS, at[1], item, value, add)  # type: ignore[index]
        else:  # a word or a wildcard
            self._edit_row(self.vocabulary, at, OWN, None, item, value, add)  # type: ignore[arg-type]

    def _edit_row(
        self,
        rows: dict[str, tuple[Any, ...]],
        word: str,
        slot: int,
        second: str | None,
        item: object,
        value: object,
        add: bool,
    ) -> None:
        """Edit the posting at `slot` of `word`'s row (a vocable or a leader), or at `second`
        in the table at that slot; keep the partners' hashes and the pair filter in step."""
        row = list(rows.get(word, _NONE))
        if second is None:
            row[slot] = _edited(row[slot], item, value, add)
        else:
            had = row[slot] is not None and second in row[slot]
            table = row[slot] = _edited_table(row[slot], second, item, value, add)
            if had != (table is not None and second in table):  # a partner or a pair came or went
                if rows is self.leaders:
                    self._count_pair(word, second, +1 if add else -1)
                elif slot == PARTNERS:
                    row[PARTNER_HASHES] = _hashes(table)
        if row[0] is None and row[1] is None and row[2] is None:
            del rows[word]
        else:
            rows[word] = tuple(row)

    def _count_pair(self, first: str, second: str, step: int) -> None:
        """One more (or one fewer) pair anchor at the pair's slot; a slot that reached 255 stays
        there (it may then let through pairs that are not anchors, never miss one)."""
        slot = pair_slot(first, second, self.pair_bits)
        count = self.pairs[slot]
        if count < 255:
            self.pairs[slot] = count + step


_second = itemgetter(1)


class Wildcards(dict[str, tuple[str, ...]]):
    """A word -> the index's wildcards (starred: `graph*`) that start it.

    Filled on first sight of a word by one Aho-Corasick scan over every wildcard prefix in the
    index, so a paper's words are looked up, not scanned. Emptied whenever the set of prefixes
    changes; bounded, as a long-running bot meets new words forever.
    """

    def __init__(self) -> None:
        super().__init__()
        self.uses: dict[str, int] = {}  # prefix -> how many terms use it
        self._automaton: ahocorasick.Automaton | None = None
        self._shortest: int | None = None

    @property
    def shortest(self) -> int:
        """The length of the shortest prefix: no shorter word starts with a wildcard."""
        if self._shortest is None:
            self._shortest = min(map(len, self.uses), default=0)
        return self._shortest

    def count(self, prefix: str, step: int) -> None:
        """One more (`step` 1) or one fewer (-1) term uses `prefix`."""
        uses = self.uses.get(prefix, 0) + step
        if uses:
            self.uses[prefix] = uses
        else:
            del self.uses[prefix]
        if uses == (1 if step > 0 else 0):  # the set of prefixes changed
            self._automaton = self._shortest = None
            self.clear()

    def __missing__(self, word: str) -> tuple[str, ...]:
        if len(self) > 1 << 17:
            self.clear()
        automaton = self._automaton
        if automaton is None:
            # Each prefix as " prefix", found in " word" only at the word's start.
            automaton = self._automaton = ahocorasick.Automaton()
            for prefix in self.uses:
                automaton.add_word(f" {prefix}", f"{prefix}*")
            automaton.make_automaton()
        found = self[word] = tuple(map(_second, automaton.iter(f" {word}")))
        return found
