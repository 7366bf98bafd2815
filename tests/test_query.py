"""The query language as users type it: what parses to what, and every error they can get."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.query.language import MAX_LENGTH, MAX_TERMS, Query, QueryError, parse


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("diffusion", "diffusion"),
        ("  Diffusion  ", "diffusion"),
        ("Schrödinger", "schrodinger"),
        ("diffus*", "diffus*"),
        ("Diffus*", "diffus*"),
        ('"classifier-free guidance"', '"classifier free guidance"'),
        ('"diffusion"', "diffusion"),
        ("training-free", '"training free"'),
        ("text-to-image", '"text to image"'),
        ("self-superv*", '"self superv*"'),
        ('"diffus* model"', '"diffus* model"'),
        ("diffusion video", "diffusion video"),
        ("diffusion AND video", "diffusion video"),
        ("diffusion   OR   flow", "diffusion OR flow"),
        ("a OR (b OR c)", "a OR b OR c"),
        ("a (b c)", "a b c"),
        ("(a)", "a"),
        ("-survey diffusion", "-survey diffusion"),
        ("NOT survey diffusion", "-survey diffusion"),
        ("diffusion NOT (survey OR review)", "diffusion -(survey OR review)"),
        ("diffusion -(survey review)", "diffusion -(survey review)"),
        ("(video OR audio) diffusion", "(video OR audio) diffusion"),
        ("a b OR c", "(a b) OR c"),  # AND binds tighter than OR, and the canonical form says so
        ("a OR b c", "a OR (b c)"),
        ("diffusion or flow", "diffusion or flow"),  # lower case: words, not operators
        ("not survey", "not survey"),
        ("Title:Diffusion", "title:diffusion"),
        ("title: diffusion", "title:diffusion"),
        ("title:(video OR audio)", "title:video OR title:audio"),
        ("title:(video audio) -survey", "title:video title:audio -survey"),
        ('author:"Jane Doe"', 'author:"jane doe"'),
        ("authors:Doe", "author:doe"),
        ("abstract:diffus*", "abstract:diffus*"),
        ("cat:cs.CV", "cat:cs.cv"),
        ("category:cs.CV", "cat:cs.cv"),
        ("cat:cs.*", "cat:cs.*"),
        ("cat:(cs.CV OR cs.LG) diffusion", "(cat:cs.cv OR cat:cs.lg) diffusion"),
        ('cat:"Machine Learning"', 'cat:"machine learning"'),
        ("upvotes:>=10", "upvotes:>=10"),
        ("upvotes:>10 llm", "upvotes:>10 llm"),
        ("upvotes:<=3 llm", "upvotes:<=3 llm"),
        ("upvotes:<3 llm", "upvotes:<3 llm"),
        ("upvotes:=3 llm", "upvotes:=3 llm"),
        ("upvotes:3 llm", "upvotes:=3 llm"),
        ("llm -upvotes:<5", "llm -upvotes:<5"),
        ("--a b", "-(-a) b"),
    ],
)
def test_canonical_form(typed: str, canonical: str) -> None:
    query = parse(typed)
    assert query.canonical == canonical
    assert query.text == typed
    assert parse(query.canonical).canonical == canonical


def test_the_same_query_typed_differently_is_equal() -> None:
    assert parse("Diffusion  OR  Flow") == parse("diffusion OR flow")
    assert parse("NOT survey video") == parse("-survey video")
    assert parse("diffusion") != parse("diffusion video")
    assert str(parse("Video   Diffusion")) == "video diffusion"


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("diffusion models", "model diffusion", True),  # plurals folded, AND in any order
        ('"language models"', '"language model"', True),
        ("queries -surveys", "-survey query", True),
        ("(a OR b) c", "c (b OR a)", True),
        ("title:Processes", "title:process", True),
        ("cat:cs.CV x", "x cat:cs.cv", True),
        ('"diffusion model"', '"model diffusion"', False),  # a phrase keeps its order
        ("a -b", "b -a", False),
        ("diffus*", "diffusion", False),
        ("title:model", "model", False),
        ("upvotes:>=5 x", "upvotes:>5 x", False),
        ("upvotes:>=6 x", "upvotes:>5 x", True),  # whole numbers
        ("upvotes:<=4 x", "upvotes:<5 x", True),
        ("diffusion diffusion", "diffusion", True),
        ("diffusion OR diffusions", "diffusion", True),
        ("(a b) OR (b a)", "a b", True),
        ("a OR b", "a b", False),
    ],
)
def test_queries_matching_the_same_papers_share_a_key(one: str, other: str, same: bool) -> None:
    assert (parse(one).key == parse(other).key) is same


ONLY_EXCLUSIONS = (
    "a query needs at least one term to look for: exclusions alone "
    "(like -survey) would match almost every paper"
)


def test_invisible_characters_pasted_into_a_word_do_not_split_it():
    assert parse("diff\u200busion").canonical == "diffusion"
    assert parse("title:diffu\u00adsion").canonical == "title:diffusion"


def test_typographic_quotes_make_a_phrase():
    for typed in ("“diffusion model”", "„diffusion model“", "«diffusion model»"):
        assert parse(typed).canonical == '"diffusion model"'
    with pytest.raises(QueryError, match=r"^unbalanced quote at column 7$"):
        parse("video “diffusion")


ERRORS = [
    (
        "video title:upvotes:>=5",
        "a field cannot hold another field: 'title:upvotes:>=5' (give each its own term, "
        "e.g. title:diffusion cat:cs.CV)",
        13,
    ),
    ("", "empty query: give words to look for, e.g. diffusion", None),
    ("   ", "empty query: give words to look for, e.g. diffusion", None),
    ('diffusion "video', "unbalanced quote", 11),
    ("(video OR audio diffusion", "unbalanced parenthesis '('", 1),
    ("video) diffusion", "unbalanced parenthesis ')'", 6),
    ("a (", "unbalanced parenthesis '('", 3),
    ("a () b", "empty parentheses", 4),
    ('a "" b', "empty phrase", 3),
    ("diffusion NOT", "NOT needs a term after it", 11),
    ("NOT OR a", "NOT needs a term after it", 1),
    ("diffusion -", "'-' needs a term right after it, e.g. -survey", 11),
    ("a - b", "'-' needs a term right after it, e.g. -survey", 3),
    ("OR diffusion", "OR needs a term on both sides", 1),
    ("diffusion OR", "OR needs a term on both sides", 11),
    ("a OR OR b", "OR needs a term on both sides", 3),
    ("(OR a)", "OR needs a term on both sides", 2),
    ("a AND", "AND needs a term on both sides", 3),
    ("auther:doe", "unknown field 'auther:' (did you mean author:?)", 1),
    ("titel:diffusion", "unknown field 'titel:' (did you mean title:?)", 1),
    (
        "note:diffusion",
        "unknown field 'note:' (fields are title:, abstract:, author:, cat:, upvotes:; "
        'quote text that has a colon, e.g. "note: this")',
        1,
    ),
    ("title:", "title: needs a word, a phrase or a group after it (e.g. title:diffusion)", 1),
    ("a cat:", "cat: needs a word, a phrase or a group after it (e.g. cat:cs.CV)", 3),
    ("author:", 'author: needs a word, a phrase or a group after it (e.g. author:"Jane Doe")', 1),
    ("title:-survey", "put '-' before the field to exclude, e.g. -title:survey", 1),
    ("title: NOT survey", "put '-' before the field to exclude, e.g. -title:survey", 8),
    ("title:(author:doe)", "'author:' cannot be used inside 'title:(...)'", 8),
    ("upvotes:many", "upvotes: needs a comparison like upvotes:>=10", 1),
    ("upvotes:>=", "upvotes: needs a comparison like upvotes:>=10", 1),
    ("upvotes:(>=3)", "upvotes: needs a comparison like upvotes:>=10", 1),
    ("diff*sion", "a wildcard '*' goes only at the end of a word, e.g. diffus*", 5),
    ("d*", "a wildcard needs at least 2 letters before '*', e.g. diffus*", 2),
    ("*", "a wildcard '*' must follow a letter or digit, e.g. diffus*", 1),
    ("video-*", "a wildcard '*' must follow a letter or digit, e.g. diffus*", 7),
    ('"diffus* mo*del"', "a wildcard '*' goes only at the end of a word, e.g. diffus*", 12),
    ("cat:cs*.*", "a wildcard '*' goes only at the end, e.g. cat:cs.*", 5),
    ('cat:"cs.*"', "a wildcard '*' goes only at the end, e.g. cat:cs.*", 5),
    ("!!!", "'!!!' has no letters or digits to look for", 1),
    ("-survey", ONLY_EXCLUSIONS, None),
    ("NOT survey -review", ONLY_EXCLUSIONS, None),
    ("video OR -survey", ONLY_EXCLUSIONS, None),
    ("x" * 257, f"query too long: 257 characters (at most {MAX_LENGTH})", MAX_LENGTH + 1),
    (" ".join(["ab"] * (MAX_TERMS + 1)), f"too many terms (at most {MAX_TERMS})", 97),
    ("(" * 17 + "a" + ")" * 17, "too deeply nested (at most 16 levels)", 17),
]


@pytest.mark.parametrize(("typed", "message", "column"), ERRORS)
def test_errors_say_what_and_where(typed: str, message: str, column: int | None) -> None:
    with pytest.raises(QueryError) as caught:
        parse(typed)
    error = caught.value
    assert error.message == message
    assert error.column == column
    assert str(error) == (f"{message} at column {column}" if column else message)


def test_error_messages_match_the_product_wording() -> None:
    with pytest.raises(QueryError, match=r"^unbalanced quote at column 12$"):
        parse('diffusion, "video')
    with pytest.raises(QueryError, match=r"^NOT needs a term after it"):
        parse("video NOT")
    with pytest.raises(QueryError, match=r"^unknown field 'auther:' \(did you mean author:\?\)"):
        parse('auther:"Jane Doe"')


def test_limits_are_inclusive() -> None:
    assert parse("x" * MAX_LENGTH)
    assert parse(" ".join(["ab"] * MAX_TERMS))
    assert parse("  " + "x" * MAX_LENGTH + "  ")  # surrounding spaces do not count


def test_a_query_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="empty query"):
        parse("")


# A vocabulary of everything the language has, for random queries.
TOKENS = st.sampled_from(
    [
        "diffusion", "Video", "models", "Schrödinger", "training-free", "diffus*", "RL", "or",
        "OR", "AND", "NOT", "-", "(", ")", '"', "title:", "abstract:", "author:", "cat:",
        "upvotes:", ">=3", "cs.CV", "*", ":", "auther:", "x", "é", "\u0308", "Ω", "—",
    ]
)  # fmt: skip


@settings(max_examples=400)
@given(st.lists(TOKENS, max_size=14), st.lists(st.sampled_from(["", " ", "  "]), max_size=14))
def test_parse_only_ever_raises_query_error_and_round_trips(
    pieces: list[str], gaps: list[str]
) -> None:
    text = "".join(p + (gaps[i] if i < len(gaps) else " ") for i, p in enumerate(pieces))
    _check_parse(text)


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_parse_never_raises_anything_else_on_any_text(text: str) -> None:
    _check_parse(text)


def _check_parse(text: str) -> None:
    try:
        query = parse(text)
    except QueryError as error:
        assert error.message
        assert error.column is None or 1 <= error.column <= len(text) + 1
        return
    assert isinstance(query, Query)
    again = parse(query.canonical)
    assert again.canonical == query.canonical
    assert again == query
