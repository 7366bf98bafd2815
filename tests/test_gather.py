"""The matcher's inner loops (bot.query.gather): the compiled kernel does what the Python reference
does, the pair filter never hides an anchor, and bad input is an error, not a crash."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from bot.query.gather import COMPILED, PYTHON, Kernel
from bot.query.postings import Postings
from bot.query.text import tokenize

KERNELS = [PYTHON, *([COMPILED] if COMPILED else [])]
needs_compiled = pytest.mark.skipif(
    COMPILED is None, reason="bot.query._gather is not built (no C compiler at install)"
)
WORDS = ["video", "diffusion", "model", "audio", "graph", "neural", "network", "attention"]


def _postings(rng: random.Random, pair_bits: int, size: int = 200) -> Postings:
    """Random word, co-occurrence and pair anchors, some with keys, some with entries."""
    postings = Postings(pair_bits)
    for key in range(size):
        kind = rng.choice(["word", "cooc", "pair"])
        a, b = rng.sample(WORDS, 2)
        anchor = ("any", kind, a if kind == "word" else (a, b))
        if rng.random() < 0.5:
            postings.add_key(anchor, key)
        else:
            postings.add_entry(anchor, f"entry {key}", ((a,), (), (), -1, 9, False))
    return postings


def _gather(kernel: Kernel, postings: Postings, text: str) -> tuple[set[int], dict]:  # type: ignore[type-arg]
    keys = tokenize(text).keys
    proven: set[int] = set()
    candidates: dict = {}  # type: ignore[type-arg]
    kernel.gather(
        frozenset(keys), (keys,), postings.vocabulary, postings.leaders, postings.pairs,
        postings.pair_bits, proven, candidates,
    )  # fmt: skip
    return proven, candidates


def _expected(rng: random.Random, text: str, size: int = 200) -> tuple[set[int], dict]:  # type: ignore[type-arg]
    """What _postings(rng) holds that `text` reaches, worked out plainly."""
    keys = tokenize(text).keys
    proven: set[int] = set()
    candidates: dict = {}  # type: ignore[type-arg]
    for key in range(size):
        kind = rng.choice(["word", "cooc", "pair"])
        a, b = rng.sample(WORDS, 2)
        found = (
            a in keys
            if kind == "word"
            else (a in keys and b in keys)
            if kind == "cooc"
            else (a, b) in set(pairwise(keys))
        )
        if rng.random() < 0.5:
            if found:
                proven.add(key)
        elif found:
            candidates[f"entry {key}"] = ((a,), (), (), -1, 9, False)
    return proven, candidates


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name.split()[0])
@pytest.mark.parametrize("pair_bits", [20, 1])  # 1: every pair shares one of two slots
def test_gather_reaches_exactly_the_anchors_in_the_text(kernel: Kernel, pair_bits: int) -> None:
    for seed in range(20):
        text = " ".join(random.Random(seed + 100).choices(WORDS, k=8))
        got = _gather(kernel, _postings(random.Random(seed), pair_bits), text)
        assert got == _expected(random.Random(seed), text), text


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name.split()[0])
def test_a_full_pair_slot_stays_open_and_never_hides_a_pair(kernel: Kernel) -> None:
    postings = Postings(pair_bits=1)
    words = [f"w{i}" for i in range(25)]
    pairs = [("any", "pair", (a, b)) for a in words for b in words if a != b]
    for key, anchor in enumerate(pairs):  # 600 pairs in 2 slots: both reach their cap of 255
        postings.add_key(anchor, key)
    assert set(postings.pairs) == {255}
    for key, anchor in enumerate(pairs[1:], start=1):
        postings.remove_key(anchor, key)
    assert set(postings.pairs) == {255}  # a capped count no longer knows how many it holds
    assert _gather(kernel, postings, "w0 w1")[0] == {0}
    assert _gather(kernel, postings, "w1 w0 w2")[0] == set()
    postings.remove_key(pairs[0], 0)
    assert postings.leaders == {} and postings.vocabulary == {} and postings.fields == {}


def test_the_filter_counts_pairs_down_to_zero() -> None:
    postings = Postings()
    anchor = ("any", "pair", ("video", "diffusion"))
    postings.add_key(anchor, 1)
    postings.add_entry(anchor, "entry", ((), (), (), -1, 9, False))
    assert sum(postings.pairs) == 1  # one pair, however many postings it holds
    postings.remove_key(anchor, 1)
    assert sum(postings.pairs) == 1
    postings.remove_entry(anchor, "entry")
    assert sum(postings.pairs) == 0 and postings.leaders == {}


@needs_compiled
def test_the_compiled_kernel_refuses_what_is_not_its_layout() -> None:
    assert COMPILED is not None
    with pytest.raises(TypeError):
        COMPILED.gather(frozenset({"a"}), (("a",),), {"a": ["not", "a", "tuple"]}, {},
                        bytearray(2), 1, set(), {})  # fmt: skip
    with pytest.raises(TypeError):
        COMPILED.gather(frozenset(), (), {}, {}, bytearray(3), 1, set(), {})  # not 2**bits slots
    with pytest.raises(TypeError):
        COMPILED.merge([{"a": None}, "not a posting"], set(), {})
    with pytest.raises(TypeError):
        COMPILED.evaluate({"entry": ("a", (), (), -1, 9, False)}, frozenset({"a"}), 0)
    with pytest.raises(TypeError):
        COMPILED.evaluate({"entry": (("a",), (), (), -1, 9)}, frozenset({"a"}), 0)
    with pytest.raises(OverflowError):
        COMPILED.evaluate({"entry": (("a",), (), (), 2**70, 9, False)}, frozenset({"a"}), 0)
    with pytest.raises(TypeError):
        COMPILED.wildcards(("graph",), {"graph": "not a tuple"}, 0)
    with pytest.raises(ZeroDivisionError):  # an error in __missing__ comes through
        COMPILED.wildcards(("graph",), _Failing(), 0)


class _Failing(dict):  # type: ignore[type-arg]
    def __missing__(self, word: str) -> tuple[str, ...]:
        raise ZeroDivisionError(word)


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name.split()[0])
def test_evaluate_splits_what_holds_from_what_needs_more(kernel: Kernel) -> None:
    candidates = {
        "both": (("video", "audio"), (), (), -1, 99, False),
        "missing": (("video", "music"), (), (), -1, 99, False),
        "banned": (("video",), ("audio",), (), -1, 99, False),
        "group": ((), (), (("music", "audio"),), -1, 99, False),
        "no group": ((), (), (("music",), ("audio",)), -1, 99, False),
        "popular": ((), (), (), 10, 99, False),
        "obscure": (("video",), (), (), -1, 4, False),
        "more": (("video",), (), (), 5, 5, True),
    }
    matched, pending = kernel.evaluate(candidates, frozenset({"video", "audio"}), 5)
    assert (matched, pending) == (["both", "group"], ["more"])


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name.split()[0])
def test_wildcards_skip_words_shorter_than_every_prefix(kernel: Kernel) -> None:
    table = {"graphs": ("graph*",), "graph": ("graph*",), "gra": ("gra*",)}
    assert kernel.wildcards(("graphs", "gra", "graph"), table, 5) == {"graph*"}
    assert kernel.wildcards(("graphs", "gra"), table, 0) == {"graph*", "gra*"}


@needs_compiled
def test_the_compiled_kernel_is_the_one_used() -> None:
    from bot.query.gather import BEST

    assert BEST is COMPILED
