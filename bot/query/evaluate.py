"""Compiled queries, and their evaluation over a paper read once: the matcher's inner loop.

A query tree is compiled into nested tuples over interned terms (`CompiledTerm`), so a term that
many queries share is looked for once per paper. A `Plan` settles the common shapes with set
operations on the paper's keys; `PaperView` holds one paper's tokens per field and memoises,
per term, whether it is present and where (its hits).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import compress, count

from bot.models import Hit, Paper
from bot.query.language import And, Node, Not, Term, Upvotes
from bot.query.text import Tokens, fold_text, plural_key, tokenize, tokenize_parts

SCOPES = {
    "any": ("title", "abstract"),
    "title": ("title",),
    "abstract": ("abstract",),
    "author": ("authors",),
    "cat": ("categories",),
}
_ids = itertools.count()

# Where a query can be looked up in an index: (field, kind, value), kind one of "word" (a key),
# "pair" (two adjacent keys), "prefix" (a wildcard, starred: `graph*`), "cat", "catprefix", or
# "cooc" (two keys or wildcards anywhere in the title or abstract). Field "any" is the title and
# abstract together: a paper looks up each word, pair and wildcard of the two once.
Anchor = tuple[str, str, str | tuple[str, str]]
# Roughly how many papers an anchor pulls in, relatively: the cheapest cover wins.
_COST = {"pair": 1, "cooc": 1, "word": 2, "prefix": 6, "cat": 12, "catprefix": 16}


@dataclass(frozen=True, slots=True, eq=False)
class CompiledTerm:
    """A term ready to look up: (key, is_prefix) parts, in `fields`; `label` names it in hits."""

    id: int
    source: Term
    scope: str  # the query field: any, title, abstract, author, cat
    fields: tuple[str, ...]
    parts: tuple[tuple[str, bool], ...]
    label: str
    key: str  # the first part's key: the whole term, for a one-word term
    word: bool  # a single whole word in a text field: the commonest term, and the cheapest
    spaced: str | None  # " a b c " for a phrase without wildcards (found by substring search)
    anchors: list[Anchor]  # what to index it by (see _anchors); shared, never mutated
    exact_anchor: bool  # finding the anchor proves the term present (no check needed)
    tail: tuple[str, ...] | None  # the keys after the first of a word or plain phrase, else None


def _anchors(
    scope: str, fields: tuple[str, ...], parts: tuple[tuple[str, bool], ...]
) -> list[Anchor]:
    """What to index a term by: the longest two adjacent words of a phrase, else its longest
    word (likely the rarest), else its longest prefix."""
    if scope == "cat":
        return [("categories", "catprefix" if parts[0][1] else "cat", parts[0][0])]
    where = ("any",) if scope == "any" else fields
    pairs = [(a, b) for (a, ap), (b, bp) in itertools.pairwise(parts) if not ap and not bp]
    if pairs:
        pair = max(pairs, key=lambda p: len(p[0]) + len(p[1]))
        # A pair of a field's own (`abstract:"a b"`) is looked for in that field alone.
        return [(f, "pair", pair) for f in where]
    words = [key for key, prefix in parts if not prefix]
    if words:
        return [(f, "word", max(words, key=len)) for f in where]
    return [(f, "prefix", max((k for k, _ in parts), key=len) + "*") for f in where]


# ("word", term) a one-word text term | ("term", term) a phrase, prefix or category |
# ("upvotes", Upvotes) | ("not", compiled) | ("and" | "or", tuple of compiled)
Compiled = tuple


class Compiler:
    """Turns query trees into compiled trees, interning equal terms so they are looked up once."""

    def __init__(self) -> None:
        # (field, parts) of a term -> its compiled form, and how many queries use it
        self.terms: dict[tuple[str, tuple[str, ...]], CompiledTerm] = {}
        self.uses: dict[tuple[str, tuple[str, ...]], int] = {}

    def compile(self, node: Node) -> Compiled:
        """The compiled form of a query tree."""
        if isinstance(node, Term):
            term = self.term(node)
            return ("word" if term.word else "term", term)
        if isinstance(node, Upvotes):
            return ("upvotes", node)
        if isinstance(node, Not):
            return ("not", self.compile(node.item))
        return ("and" if isinstance(node, And) else "or", tuple(map(self.compile, node.items)))

    def term(self, term: Term) -> CompiledTerm:
        """The interned compiled form of `term`."""
        key = (term.field, term.parts)  # hashed in C; a Term's dataclass hash runs Python code
        found = self.terms.get(key)
        if found is None:
            cat = term.field == "cat"
            parts = tuple(
                (p[:-1], True) if p.endswith("*") else (p if cat else plural_key(p), False)
                for p in term.parts
            )
            word = len(parts) == 1 and not parts[0][1] and not cat
            phrase = len(parts) > 1 and not any(prefix for _, prefix in parts)
            spaced = " " + " ".join(k for k, _ in parts) + " " if phrase else None
            fields = SCOPES[term.field]
            # A two-word phrase's pair anchor is looked for in the phrase's own field(s).
            exact = len(parts) == 1 or (len(parts) == 2 and spaced is not None)
            found = CompiledTerm(
                next(_ids), term, term.field, fields, parts, term.label, parts[0][0], word,
                spaced, _anchors(term.field, fields, parts), exact,
                tuple(k for k, _ in parts[1:]) if word or spaced is not None else None,
            )  # fmt: skip
            self.terms[key] = found
        self.uses[key] = self.uses.get(key, 0) + 1
        return found

    def release(self, node: Compiled) -> None:
        """Forget the terms of a compiled tree that no other query uses."""
        for term in terms(node):
            key = (term.scope, term.source.parts)
            self.uses[key] -= 1
            if not self.uses[key]:
                del self.uses[key], self.terms[key]


def terms(node: Compiled) -> list[CompiledTerm]:
    """Every term of a compiled tree, in query order."""
    kind, payload = node
    if kind in ("word", "term"):
        return [payload]
    if kind == "upvotes":
        return []
    if kind == "not":
        return terms(payload)
    return [t for item in payload for t in terms(item)]


def cover(node: Compiled) -> list[Anchor] | None:
    """Anchors of which at least one is present whenever `node` matches; None if there are none."""
    kind, payload = node
    if kind in ("word", "term"):
        return payload.anchors  # type: ignore[no-any-return]
    if kind in ("upvotes", "not"):
        return None
    covers = [cover(item) for item in payload]
    if kind == "and":
        found = [c for c in covers if c is not None]
        return min(found, key=cost) if found else None
    if any(c is None for c in covers):
        return None
    return list(dict.fromkeys(a for c in covers for a in c))  # type: ignore[union-attr]


def cost(anchors: list[Anchor]) -> int:
    """How broad a cover is, roughly: the sum of its anchors' costs."""
    return sum(_anchor_cost(field, kind, value) for field, kind, value in anchors)


def _anchor_cost(field: str, kind: str, value: object) -> int:
    # A word, pair or wildcard of the title or abstract is about twice as common as one of a field.
    times = 2 if field == "any" and kind != "cooc" else 1
    if kind == "word" and len(value) <= 3:  # type: ignore[arg-type]
        return 5 * times  # short words are common words
    if kind == "prefix":  # a long prefix is about as rare as a word
        size = len(value) - 1  # type: ignore[arg-type]
        return (3 if size >= 6 else 5 if size >= 4 else 8) * times
    return _COST[kind] * times


def required(node: Compiled) -> frozenset[str]:
    """Keys that must all be in the title or abstract for `node` to match."""
    kind, payload = node
    if kind in ("word", "term"):
        if payload.scope in ("any", "title", "abstract"):
            return frozenset(key for key, prefix in payload.parts if not prefix)
        return frozenset()
    if kind == "and":
        return frozenset().union(*map(required, payload))
    if kind == "or":
        return frozenset.intersection(*map(required, payload))
    return frozenset()


def _any_word(node: Compiled) -> bool:
    return node[0] == "word" and node[1].scope == "any"


def _any_prefix(node: Compiled) -> bool:
    """A lone wildcard (`graph*`) searched in the title or abstract."""
    if node[0] != "term":
        return False
    term = node[1]
    return term.scope == "any" and len(term.parts) == 1 and term.parts[0][1]  # type: ignore[no-any-return]


def _word_group(node: Compiled) -> bool:
    """An OR of one-word terms searched in the title or abstract."""
    return node[0] == "or" and all(map(_any_word, node[1]))


@dataclass(frozen=True, slots=True)
class Plan:
    """How to test a compiled query cheaply: set operations on the keys of the paper's title and
    abstract first (they settle `a b`, `a -b`, `a OR b`, `(a OR b) c` alone), then `rest`.

    It matches when every `required` key is present (a starred wildcard, `graph*`, when it
    starts a word: the index's wildcard scan adds those to the keys), no `forbidden` one is, each
    of `groups` has one present, every one of `phrases` is in the title or abstract, each of
    `fielded` (field, phrase) in its field, every one of `upvotes` accepts the paper's, and `rest`
    (if any) holds. `report` lists the terms a match reports, in
    query order, each with whether only when present (a word of an OR); `walk` says to find them
    by walking the tree instead (an OR of more than words).
    """

    required: frozenset[str]
    forbidden: frozenset[str]
    groups: tuple[frozenset[str], ...]
    phrases: tuple[str, ...]  # plain phrases (" a b c ") that must be in the title or abstract
    fielded: tuple[tuple[str, str], ...]  # (field, plain phrase) for `title:` and `abstract:`
    upvotes: tuple[Upvotes, ...]
    rest: Compiled | None
    report: tuple[tuple[CompiledTerm, bool], ...]
    terms: tuple[CompiledTerm, ...]  # every reported term (when none is optional)
    optional: bool
    walk: bool

    @classmethod
    def of(cls, node: Compiled, proven: CompiledTerm | None = None) -> Plan:
        """The plan for a compiled tree; `proven` is a term known present (its exact anchor was
        found), so not checked again."""
        items = node[1] if node[0] == "and" else (node,)
        words: set[str] = set()
        banned: set[str] = set()
        groups: list[frozenset[str]] = []
        phrases: list[str] = []
        fielded: list[tuple[str, str]] = []
        upvotes: list[Upvotes] = []
        rest: list[Compiled] = []
        for item in items:
            if _any_word(item):
                words.add(item[1].key)
            elif _any_prefix(item):
                words.add(item[1].key + "*")
            elif item[0] == "term" and item[1] is proven:
                pass
            elif item[0] == "term" and item[1].scope == "any" and item[1].spaced is not None:
                phrases.append(item[1].spaced)
                words |= required(item)  # cheap to test first
            elif item[0] == "term" and item[1].scope in SCOPES["any"] and item[1].spaced:
                fielded.append((item[1].scope, item[1].spaced))  # the scope names its field
                words |= required(item)
            elif item[0] == "upvotes":
                upvotes.append(item[1])
            elif item[0] == "not" and _any_word(item[1]):
                banned.add(item[1][1].key)
            elif _word_group(item):
                groups.append(frozenset(t.key for _, t in item[1]))
            elif item[0] != "term" or item[1] is not proven:
                rest.append(item)
                words |= required(item)
        remainder = None if not rest else rest[0] if len(rest) == 1 else ("and", tuple(rest))
        report: dict[CompiledTerm, bool] = {}
        walk = not _report(node, report, optional=False)
        return cls(
            _frozen(words), _frozen(banned), tuple(groups),
            tuple(dict.fromkeys(phrases)), tuple(dict.fromkeys(fielded)), tuple(upvotes),
            remainder,
            tuple(report.items()), tuple(report), any(report.values()), walk,
        )  # fmt: skip

    def anchors(self) -> list[Anchor] | None:
        """Co-occurrence anchors from two of the word (or wildcard) sets that must meet the title
        or abstract, if that makes a small cover (both must be present, so few papers have them)."""
        if len(self.required) + len(self.groups) < 2:
            return None
        # Each set as (size, minus its shortest word's length, its words in order): the two
        # first are the smallest sets of the longest (likely rarest) words.
        sets = [(1, -len(w), (w,)) for w in self.required]
        sets += [(len(g), -min(map(len, g)), tuple(sorted(g))) for g in self.groups]
        sets.sort()
        first, second = sets[0][2], sets[1][2]
        if len(first) * len(second) > 4:
            return None
        return [("any", "cooc", (a, b)) for a in first for b in second]


_EMPTY: frozenset[str] = frozenset()


def _frozen(items: set[str]) -> frozenset[str]:
    """`items` frozen; one shared empty set (each new one costs 200 bytes, times 50,000 plans)."""
    return frozenset(items) if items else _EMPTY


def _report(node: Compiled, out: dict[CompiledTerm, bool], *, optional: bool) -> bool:
    """Collect the terms a match reports, in order, each with whether only when present;
    False when an OR of more than words makes that depend on the tree."""
    kind, payload = node
    if kind in ("word", "term"):
        out[payload] = out.get(payload, optional) and optional
    elif kind == "and":
        return all(_report(item, out, optional=optional) for item in payload)
    elif kind == "or":
        if not _word_group(node):
            return False
        for item in payload:
            _report(item, out, optional=True)
    return True


class PaperView:
    """One paper read for matching: tokens per field, and what each term found there (memoised)."""

    __slots__ = ("_categories", "_present", "_sets", "_tokens", "hits", "paper", "prefixes")

    def __init__(self, paper: Paper) -> None:
        self.paper = paper
        self.hits: dict[int, tuple[Hit, ...]] = {}  # term id -> its hits
        self._sets: dict[str, frozenset[str]] = {}
        self._tokens: dict[str, Tokens] = {}
        self._present: dict[int, bool] = {}
        # field -> the wildcards (starred: `graph*`) that start a word there, when an index
        # scanned for all of its own
        self.prefixes: dict[str, set[str]] = {}
        self._categories: list[tuple[str, int, int]] | None = None

    def tokens(self, field: str) -> Tokens:
        """The tokens of `field` (title, abstract, authors), read on first use."""
        found = self._tokens.get(field)
        if found is None:  # (callers on hot paths try self._tokens first)
            if field == "authors":
                found = tokenize_parts(self.paper.authors, ", ")
            else:
                found = tokenize(self.paper.title if field == "title" else self.paper.abstract)
            self._tokens[field] = found
        return found

    def keys_in(self, scope: str) -> frozenset[str]:
        """The paper's keys in a query scope: `any` (title or abstract), `title`, `abstract`,
        `author`."""
        found = self._sets.get(scope)
        if found is None:
            if scope == "any":  # one set of both fields' keys (not a union of two sets)
                found = frozenset(self.tokens("title").keys + self.tokens("abstract").keys)
            else:
                found = self.tokens(SCOPES[scope][0]).keyset
            self._sets[scope] = found
        return found

    def keys_with(self, *wildcards: set[str]) -> frozenset[str]:
        """The `any` keys together with `wildcards` (starred, `graph*`, so never equal to a key)
        in one set, which the view keeps as its `any` keys: key tests read it unchanged."""
        found = self._sets.get("any")
        if found is None:
            title, abstract = self.tokens("title").keys, self.tokens("abstract").keys
            found = frozenset(itertools.chain(title, abstract, *wildcards))
        elif any(wildcards):
            found = found.union(*wildcards)
        self._sets["any"] = found
        return found

    @property
    def categories(self) -> list[tuple[str, int, int]]:
        """(folded name, start, end) of each category in `" ".join(paper.categories)`."""
        if self._categories is None:
            out, offset = [], 0
            for name in self.paper.categories:
                out.append((" ".join(fold_text(name).split()), offset, offset + len(name)))
                offset += len(name) + 1
            self._categories = out
        return self._categories

    def matches(self, node: Compiled) -> bool:
        """Whether the compiled tree `node` holds for this paper."""
        kind, payload = node
        if kind == "word":
            return payload.key in self.keys_in(payload.scope)
        if kind == "term":
            found = self._present.get(payload.id)
            if found is None:
                found = self._present[payload.id] = self._find(payload)
            return found
        if kind == "and":  # loops, not all()/any(): this is the hot path
            for item in payload:  # noqa: SIM110
                if not self.matches(item):
                    return False
            return True
        if kind == "or":
            for item in payload:  # noqa: SIM110
                if self.matches(item):
                    return True
            return False
        if kind == "not":
            return not self.matches(payload)
        return payload.accepts(self.paper.upvotes)

    def matched_terms(self, node: Compiled, out: list[CompiledTerm]) -> None:
        """Append the terms that make a matching `node` match: outside exclusions, and in an OR
        only the branches that hold."""
        kind, payload = node
        if kind in ("word", "term"):
            out.append(payload)
        elif kind in ("and", "or"):
            for item in payload:
                if kind == "and" or self.matches(item):
                    self.matched_terms(item, out)

    def collect_hits(self, terms: Iterable[CompiledTerm]) -> None:
        """Find the hits of many terms at once: one pass over each field for all one-word terms
        and plain phrases (cheaper than a search per term), then the others one by one."""
        wanted: dict[str, dict[str, list[CompiledTerm]]] = {}
        scanned: list[CompiledTerm] = []
        for term in terms:
            if term.id in self.hits:
                continue
            if term.tail is None:
                self.term_hits(term)
                continue
            scanned.append(term)
            for field in term.fields:
                wanted.setdefault(field, {}).setdefault(term.key, []).append(term)
        if len(scanned) < 4:
            for term in scanned:
                self.term_hits(term)
            return
        found: dict[int, list[Hit]] = {term.id: [] for term in scanned}
        for field in SCOPES["any"] + SCOPES["author"]:  # field order: hits come out in it
            by_key = wanted.get(field)
            if not by_key:
                continue
            tokens = self.tokens(field)
            keys, starts, ends = tokens.keys, tokens.starts, tokens.ends
            # The indexes of the wanted first words, picked out in C (most words are not).
            for i in compress(count(), map(by_key.__contains__, keys)):
                for term in by_key[keys[i]]:
                    tail = term.tail
                    if tail:  # a phrase: the words after this one must spell out the rest
                        last = i + len(tail)
                        if keys[i + 1 : last + 1] != tail:
                            continue
                    else:
                        last = i
                    hit = _new(Hit)  # as in _hit, inlined: the commonest hit is made here
                    _set_field(hit, field)
                    _set_term(hit, term.label)
                    _set_start(hit, starts[i])
                    _set_end(hit, ends[last])
                    found[term.id].append(hit)
        for term in scanned:
            self.hits[term.id] = tuple(found[term.id])

    def term_hits(self, term: CompiledTerm) -> tuple[Hit, ...]:
        """Every place `term` occurs, in field order then text order."""
        found = self.hits.get(term.id)
        if found is None:
            found = self.hits[term.id] = self._term_hits(term)
        return found

    def _find(self, term: CompiledTerm) -> bool:
        if term.scope == "cat":
            return any(_category_matches(term, name) for name, _, _ in self.categories)
        for field in term.fields:
            tokens = self._tokens.get(field) or self.tokens(field)
            if term.spaced is not None:
                if term.spaced in tokens.spaced_keys:
                    return True
            elif len(term.parts) > 1:
                if _phrase_starts(tokens, term.parts):
                    return True
            elif term.parts[0][1]:
                known = self.prefixes.get(field)
                if (
                    term.key + "*" in known
                    if known is not None
                    else " " + term.key in tokens.spaced_words
                ):
                    return True
            elif term.key in tokens.keyset:
                return True
        return False

    def _term_hits(self, term: CompiledTerm) -> tuple[Hit, ...]:
        label, parts = term.label, term.parts
        out: list[Hit] = []
        if term.word:
            for field in term.fields:
                tokens = self.tokens(field)
                places = tokens.positions(term.key)
                if places:
                    starts, ends = tokens.starts, tokens.ends
                    out += [_hit(field, label, starts[i], ends[i]) for i in places]
            return tuple(out)
        if term.scope == "cat":
            for name, start, end in self.categories:
                if _category_matches(term, name):
                    out.append(_hit("categories", label, start, end))
            return tuple(out)
        last = len(parts) - 1
        for field in term.fields:
            tokens = self._tokens.get(field) or self.tokens(field)
            starts, ends = tokens.starts, tokens.ends
            if term.spaced is not None:
                places = _occurrences(tokens.spaced_keys, term.spaced)
            elif last:
                places = _phrase_starts(tokens, parts)
            else:
                known = self.prefixes.get(field)
                if known is not None and term.key + "*" not in known:
                    continue  # the index's scan saw no word here start with this prefix
                places = _occurrences(tokens.spaced_words, " " + term.key)
            out += [_hit(field, label, starts[i], ends[i + last]) for i in places]
        return tuple(out)


_new = object.__new__
# Hit's slots, set directly: a frozen dataclass's __init__ sets each through object.__setattr__
_set_field, _set_term = Hit.field.__set__, Hit.term.__set__  # type: ignore[attr-defined]
_set_start, _set_end = Hit.start.__set__, Hit.end.__set__  # type: ignore[attr-defined]


def _hit(field: str, term: str, start: int, end: int) -> Hit:
    """A Hit built without the frozen dataclass's __init__ (which sets each field through
    object.__setattr__): the same object at under half the cost, made ~100 times per paper."""
    hit = _new(Hit)
    _set_field(hit, field)
    _set_term(hit, term)
    _set_start(hit, start)
    _set_end(hit, end)
    return hit


def _category_matches(term: CompiledTerm, name: str) -> bool:
    value, prefix = term.parts[0]
    return name.startswith(value) if prefix else name == value


def _occurrences(spaced: str, needle: str) -> list[int]:
    """Word indexes where `needle` (" a b " or " prefix") starts in " w1 w2 ... wn "."""
    out = []
    at, index, counted = spaced.find(needle), -1, 0
    while at >= 0:
        index += spaced.count(" ", counted, at + 1)  # words are space-free: spaces count them
        counted = at + 1
        out.append(index)
        at = spaced.find(needle, at + 1)
    return out


def _phrase_starts(tokens: Tokens, parts: tuple[tuple[str, bool], ...]) -> list[int]:
    """Indexes where the words of `tokens` spell out `parts` (some of them prefixes), in order."""
    keyset = tokens.keyset
    for key, prefix in parts:
        if not prefix and key not in keyset:
            return []
    words, keys = tokens.words, tokens.keys
    first, first_prefix = parts[0]
    if first_prefix:
        starts = _occurrences(tokens.spaced_words, " " + first)
    else:
        starts = tokens.positions(first)
    last = len(words) - len(parts)
    out = []
    for i in starts:
        if i > last:
            break
        for j in range(1, len(parts)):
            key, prefix = parts[j]
            if not (words[i + j].startswith(key) if prefix else keys[i + j] == key):
                break
        else:
            out.append(i)
    return out
