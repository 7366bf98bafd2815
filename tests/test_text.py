"""Folding and tokenising: what "the same word" means to queries and papers alike."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.query.text import SEP, fold_text, plural_forms, plural_key, tokenize, tokenize_parts, words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Schrödinger", ["schrodinger"]),
        ("Schro\u0308dinger", ["schrodinger"]),  # decomposed accent
        ("Straße", ["strasse"]),
        ("Søren Łukasz Æsir", ["soren", "lukasz", "aesir"]),
        ("İstanbul", ["istanbul"]),
        ("training-free", ["training", "free"]),
        ("text-to-image", ["text", "to", "image"]),
        ("snake_case, comma;semi", ["snake", "case", "comma", "semi"]),
        ("GPT-4o and 3D", ["gpt", "4o", "and", "3d"]),
        ("½ ﬁne", ["1", "2", "fine"]),
        ("…—“quoted”", ["quoted"]),
        ("diffu\u00adsion diff\u200busion\ufeff", ["diffusion", "diffusion"]),  # invisible
        ("", []),
    ],
)
def test_words_fold_case_accents_and_split_on_punctuation(text: str, expected: list[str]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize(
    ("plural", "singular"),
    [
        ("models", "model"),
        ("queries", "query"),
        ("processes", "process"),
        ("classes", "class"),
        ("patches", "patch"),
        ("boxes", "box"),
        ("caches", "cache"),
        ("movies", "movie"),
        ("biases", "bias"),
        ("lenses", "lens"),
        ("keys", "key"),
        ("cases", "case"),
        ("1990s", "1990"),
    ],
)
def test_plural_and_singular_share_a_key(plural: str, singular: str) -> None:
    assert plural_key(plural) == plural_key(singular)


@pytest.mark.parametrize(
    ("word", "other"),
    [("analysis", "analyses"), ("status", "state"), ("news", "new"), ("note", "not"), ("us", "u")],
)
def test_no_deeper_stemming(word: str, other: str) -> None:
    assert plural_key(word) != plural_key(other)


@pytest.mark.parametrize("word", ["this", "class", "status", "analysis", "gas", "bus", "is"])
def test_singular_words_ending_in_s_are_left_alone(word: str) -> None:
    assert plural_key(word) == word


@settings(max_examples=300)
@given(st.from_regex(r"[a-z]{1,12}", fullmatch=True))
def test_plural_key_is_idempotent_and_plural_forms_inverts_it(word: str) -> None:
    key = plural_key(word)
    assert plural_key(key) == key
    assert word in plural_forms(key)
    assert all(plural_key(form) == key for form in plural_forms(key))


@settings(max_examples=300)
@given(st.text(max_size=60))
def test_folding_is_idempotent_and_spans_point_at_the_words(text: str) -> None:
    folded = fold_text(text)
    assert fold_text(folded) == folded
    tokens = tokenize(text)
    assert len(tokens.words) == len(tokens.keys) == len(tokens.starts) == len(tokens.ends)
    for word, start, end in zip(tokens.words, tokens.starts, tokens.ends, strict=True):
        assert 0 <= start < end <= len(text)
        # The original characters under a span fold back to (a run containing) the word.
        assert word in "".join(words(text[start:end]))


def test_spans_survive_folding_that_changes_length() -> None:
    text = "Die Straße von Schro\u0308dinger, naïve"
    tokens = tokenize(text)
    spans = [text[s:e] for s, e in zip(tokens.starts, tokens.ends, strict=True)]
    assert spans == ["Die", "Straße", "von", "Schro\u0308dinger", "naïve"]


def test_a_span_covers_the_invisible_characters_inside_its_word() -> None:
    text = "Latent diffu\u00adsion models"
    tokens = tokenize(text)
    assert tokens.words == ("latent", "diffusion", "models")
    assert text[tokens.starts[1] : tokens.ends[1]] == "diffu\u00adsion"


def test_authors_are_read_apart_so_no_phrase_runs_across_two() -> None:
    tokens = tokenize_parts(("Jane Doe", "Søren K"), ", ")
    assert tokens.words == ("jane", "doe", SEP, "soren", "k")
    assert tokens.text == "Jane Doe, Søren K"
    assert tokens.text[tokens.starts[3] : tokens.ends[3]] == "Søren"
    assert (tokens.starts[2], tokens.ends[2]) == (-1, -1)


def test_positions_of_a_key_cover_its_plural_forms() -> None:
    tokens = tokenize("Models beat the model; a model's MODELS.")
    assert tokens.positions("model") == [0, 3, 5, 7]
    assert tokens.positions("absent") == []
