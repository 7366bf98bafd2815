"""How paperbot reads text: case and accent folding, word tokens, simple English plural folding.

The query parser and the matcher both go through here, so a query word and a paper word are
compared in exactly the same form. Tokens keep their character spans in the original text, so
highlights survive folding (`Schrödinger` -> `schrodinger`, `ß` -> `ss`).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from functools import lru_cache

WORD = re.compile(r"[^\W_]+")  # letters and digits; `_`, hyphens and punctuation separate words
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SPLIT = re.compile(r"([^\W_]+)")
SEP = "\x00"  # a token that matches nothing: keeps phrases from running across authors

# Letters that Unicode decomposition leaves alone but readers treat as accented Latin letters.
_LATIN = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i", "ħ": "h"}
)

# Plurals the suffix rules get wrong, and their singulars (which the rules would also mangle).
_IRREGULAR = {
    word: singular
    for singular, plural in (
        ("bias", "biases"),
        ("alias", "aliases"),
        ("atlas", "atlases"),
        ("canvas", "canvases"),
        ("gas", "gases"),
        ("lens", "lenses"),
        ("bus", "buses"),
        ("virus", "viruses"),
        ("status", "statuses"),
        ("corpus", "corpuses"),
        ("census", "censuses"),
        ("news", "news"),
        ("series", "series"),
        ("species", "species"),
    )
    for word in (singular, plural)
}


@lru_cache(maxsize=4096)
def fold_char(char: str) -> str:
    """One character case- and accent-folded; anything but a letter or digit becomes a space,
    except invisible format characters (soft hyphen, zero-width space and joiners, BOM), which
    text pasted from PDFs and web pages carries inside words: they are dropped."""
    if unicodedata.category(char) == "Cf":
        return ""
    out = char
    for _ in range(3):  # to a fixed point, so folding folded text changes nothing
        decomposed = unicodedata.normalize("NFKD", out)
        stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
        folded = stripped.casefold().translate(_LATIN).lower()
        folded = "".join(c if c.isalnum() else " " for c in folded)
        if folded == out:
            break
        out = folded
    return out


def fold_text(text: str) -> str:
    """`text` lower-cased with accents removed; non-word characters outside ASCII become spaces."""
    if text.isascii():
        return text.lower()
    return _NON_ASCII.sub(lambda m: fold_char(m.group()), text).translate(_ASCII_LOWER)


def _origins(text: str) -> list[int] | None:
    """For each character of fold_text(text), the index in `text` it came from (plus a final
    len(text)); None when folding kept every character in place."""
    if text.isascii() or all(len(fold_char(c)) == 1 for c in _NON_ASCII.findall(text)):
        return None
    origin: list[int] = []
    for i, char in enumerate(text):
        origin.extend([i] * (1 if char.isascii() else len(fold_char(char))))
    origin.append(len(text))
    return origin


@lru_cache(maxsize=1 << 17)
def plural_key(word: str) -> str:
    """The form a folded word is compared in: simple English plurals folded to the singular.

    `models` -> `model`, `queries` -> `query`, `processes` -> `process`, `patches` -> `patch`;
    `movie(s)` -> `movy` and `cache(s)` -> `cach` so singular and plural meet; no deeper stemming.
    """
    if len(word) <= 3:
        return word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("ie"):
        return word[:-2] + "y"
    if word.endswith("che"):
        return word[:-1]
    if not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    return word[:-1]


def plural_forms(key: str) -> frozenset[str]:
    """Every folded word whose plural_key is `key` (the inverse of plural_key)."""
    candidates = {key, key + "s", key + "es", key + "e"}
    if key.endswith("y"):
        candidates |= {key[:-1] + "ies", key[:-1] + "ie"}
    candidates |= {word for word, singular in _IRREGULAR.items() if singular == key}
    return frozenset(c for c in candidates if plural_key(c) == key)


class _Keys(dict[str, str]):
    """word -> plural_key(word), filled on first sight (a dict lookup is cheaper than a call)."""

    def __missing__(self, word: str) -> str:
        if len(self) > 1 << 18:  # bounded: a long-running bot meets new words forever
            self.clear()
        key = self[word] = plural_key(word)
        return key


_KEYS = _Keys()  # shared cache: word -> plural_key(word)


def words(text: str) -> list[str]:
    """The folded words of `text`, in order."""
    return WORD.findall(fold_text(text))


class Tokens:
    """One field's text read as words: folded `words`, their plural `keys`, and their spans
    [start, end) in the original `text`.

    A `SEP` entry in `words` and `keys` marks a boundary no phrase may cross (between two
    authors); its span is (-1, -1). Read-only by convention; a plain slotted class rather than a
    frozen dataclass because it is made for every field of every paper and caches lookups.
    """

    __slots__ = (
        "_keyset",
        "_positions",
        "_spaced_keys",
        "_spaced_words",
        "ends",
        "keys",
        "starts",
        "text",
        "words",
    )

    def __init__(
        self,
        text: str,
        words: tuple[str, ...],
        keys: tuple[str, ...],
        starts: tuple[int, ...],
        ends: tuple[int, ...],
    ) -> None:
        self.text, self.words, self.keys, self.starts, self.ends = text, words, keys, starts, ends
        self._keyset: frozenset[str] | None = None
        self._spaced_words: str | None = None
        self._spaced_keys: str | None = None
        self._positions: dict[str, list[int]] = {}

    def __repr__(self) -> str:
        return f"Tokens({self.words!r})"

    @property
    def keyset(self) -> frozenset[str]:
        """The set of keys (for presence tests)."""
        if self._keyset is None:
            self._keyset = frozenset(self.keys)
        return self._keyset

    def pairwise(self) -> Iterator[tuple[str, str]]:
        """Every two adjacent keys, in order (with repeats), made as iterated (zip reuses its
        tuple when the consumer drops it, where itertools.pairwise makes a new one each time)."""
        keys = self.keys
        return zip(keys, keys[1:], strict=False)  # noqa: RUF007 (see above)

    @property
    def spaced_words(self) -> str:
        """ " w1 w2 ... wn ": substring search finds a word prefix as " p", in C."""
        if self._spaced_words is None:
            self._spaced_words = " " + " ".join(self.words) + " "
        return self._spaced_words

    @property
    def spaced_keys(self) -> str:
        """ " k1 k2 ... kn ": substring search finds a phrase of keys as " a b c "."""
        if self._spaced_keys is None:
            self._spaced_keys = " " + " ".join(self.keys) + " "
        return self._spaced_keys

    def positions(self, key: str) -> list[int]:
        """Indexes of the words whose key is `key`, in order."""
        found = self._positions.get(key)
        if found is None:
            found = []
            if key in self.keyset:  # scanning in C beats building a dict of every key
                keys, i = self.keys, -1
                for _ in range(keys.count(key)):
                    i = keys.index(key, i + 1)
                    found.append(i)
            self._positions[key] = found
        return found


def tokenize(text: str) -> Tokens:
    """Read `text` into folded words, their keys and their spans, in one pass."""
    folded = fold_text(text)
    pieces = _SPLIT.split(folded)  # [gap, word, gap, word, ..., gap]
    found = pieces[1::2]
    ends = list(itertools.accumulate(map(len, pieces)))
    origin = _origins(text)
    if origin is None:
        starts, stops = ends[0:-1:2], ends[1::2]
    else:
        starts = [origin[i] for i in ends[0:-1:2]]
        stops = [origin[i] if origin[i] > origin[i - 1] else origin[i - 1] + 1 for i in ends[1::2]]
    return Tokens(
        text, tuple(found), tuple(map(_KEYS.__getitem__, found)), tuple(starts), tuple(stops)
    )


def tokenize_parts(parts: Sequence[str], separator: str) -> Tokens:
    """Read `separator.join(parts)` so that no phrase matches across two parts (e.g. authors)."""
    joined = tokenize(separator.join(parts))
    if len(parts) < 2:
        return joined
    bounds = list(itertools.accumulate(len(p) + len(separator) for p in parts[:-1]))
    found, keys, starts, stops = [], [], [], []
    part = 0
    for word, key, start, stop in zip(
        joined.words, joined.keys, joined.starts, joined.ends, strict=True
    ):
        if part < len(bounds) and start >= bounds[part]:
            while part < len(bounds) and start >= bounds[part]:
                part += 1
            found.append(SEP)
            keys.append(SEP)
            starts.append(-1)
            stops.append(-1)
        found.append(word)
        keys.append(key)
        starts.append(start)
        stops.append(stop)
    return Tokens(joined.text, tuple(found), tuple(keys), tuple(starts), tuple(stops))
