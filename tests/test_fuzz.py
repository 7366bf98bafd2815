"""Property-based tests (hypothesis) that keep issue 20 true: hostile input costs only itself.

A fixed example budget keeps `make test` quick; PAPERBOT_FUZZ_EXAMPLES=<n> runs n examples per
property instead (the README's reliability section gives the figures of a long run)."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.sources.arxiv_parse import parse_api_feed, parse_rss_listing
from adapters.sources.feed import parse_feed
from adapters.sources.huggingface import parse_daily_papers
from adapters.sources.sanitize import MalformedResponse, Parsed
from bot.commands.handler import CommandHandler
from bot.delivery.pipeline import Pipeline
from bot.inbound import clean
from bot.models import ChannelRef, Command, Paper, Schedule
from bot.ports import SourceError
from storage import build_stores
from storage.db import open_database
from tests.fakes import FakeChat, FakeClock
from tests.source_fakes import FakeTime, FakeWeb
from tests.test_sources_http import client

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = int(os.environ.get("PAPERBOT_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 150,
    deadline=None,
    derandomize=not EXAMPLES,  # the suite's own run is the same every time
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
GENERIC = "Something went wrong"

# --- commands -----------------------------------------------------------------------------------

WORDS = [
    "subscribe", "unsubscribe", "list", "digest", "preview", "search", "trending", "schedule",
    "settings", "pause", "resume", "help", "SUBSCRIBE", "Schedule", "nope",
]  # fmt: skip
HOSTILE = [
    "09:00", "99:99", "24:00", "9:5", "off", "daily", "weekdays", "weekly", "America/Argentina",
    "America/Indiana", "Europe/Berlin", "Europe/", "../../etc/passwd", "posix/UTC", "UTC",
    "max=0", "max=50", "max=51", "max=-1", "max=+-5", "min-upvotes=9223372036854775808",
    "threads=maybe", "threads=on", "=", "==", "max==5", "#1", "#-1", "#99999999999999999999",
    "all", "(", ")", '"', "-", "-survey", "OR", "AND", "NOT", "title:", "cat:", "upvotes:>=",
    "upvotes:>=99999999999999999999", "author:", "diffus*", "*", "\udcff", "\ud800", "\x00",
    "\x1b[31m", "\u202e", "\ufeff", "\ufffd", "e\u0301", "ｆｕｌｌ", "𝕕𝕚𝕗𝕗", "<@U123>", "&amp;",
    "`", "**", "x" * 300, "(" * 40, "a " * 40,
]  # fmt: skip
ANY_CHAR = st.characters(exclude_categories=())  # surrogates and control characters included
PIECE = st.one_of(st.sampled_from(HOSTILE), st.text(ANY_CHAR, max_size=12))
COMMAND_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=60),
    st.builds(
        lambda word, rest, sep: word + sep + " ".join(rest),
        st.sampled_from(WORDS),
        st.lists(PIECE, max_size=5),
        st.sampled_from([" ", "  ", "\t", "\n", ""]),
    ),
)


@contextmanager
def command_layer(tmp_path: Path) -> Iterator[tuple[Callable[[object], object], object]]:
    """The real handler, pipeline and a SQLite database, on one event loop for every example."""
    loop = asyncio.new_event_loop()
    engine = loop.run_until_complete(open_database(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}"))
    stores = build_stores(engine)
    chat = FakeChat()
    pipe = Pipeline(stores, {}, {"console": chat}, FakeClock())
    handler = CommandHandler(pipe, Schedule())
    try:
        yield loop.run_until_complete, (handler, stores)
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()


async def _state(stores) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
    return (
        tuple(await stores.channels.all()),
        tuple(await stores.channels.all_subscriptions()),
    )


def test_random_and_hostile_command_texts_get_clear_replies_and_refusals_change_nothing(
    tmp_path: Path,
) -> None:
    channels = [ChannelRef.parse(f"console:local:c{i}") for i in range(3)]
    with command_layer(tmp_path) as (run, (handler, stores)):

        @FUZZ
        @given(text=COMMAND_TEXT, at_edge=st.booleans(), where=st.sampled_from(channels))
        def check(text: str, at_edge: bool, where: ChannelRef) -> None:
            before = run(_state(stores))
            typed = clean(text) if at_edge else text  # through an edge, or straight in
            reply = run(handler(Command(where, "U1", typed)))  # type: ignore[operator]
            assert reply.text.strip()
            assert GENERIC not in reply.text, (text, reply.text)
            reply.text.encode("utf-8")
            assert len(reply.text) <= 600 or not reply.error, reply.text
            if reply.error:
                assert run(_state(stores)) == before, (text, reply.text)

        check()


# --- sources ------------------------------------------------------------------------------------

FEED_URL = "https://journal.example.org/rss/latest.xml"
PARSERS: dict[str, tuple[Callable[[bytes], Parsed], list[str]]] = {
    "huggingface": (
        parse_daily_papers,
        [
            "hf_daily_papers_2026-03-05.json",
            "hf_daily_papers_2026-03-06.json",
            "hf_daily_papers_bad_entries.json",
        ],
    ),
    "feed": (
        lambda data: parse_feed(data, FEED_URL),
        [
            "feed_journal_rss2.xml",
            "feed_old_lab_rss091.xml",
            "feed_press_rss1.rdf",
            "feed_reading_list.atom",
        ],
    ),
    "arxiv_api": (
        lambda data: parse_api_feed(data).parsed,
        ["arxiv_api_page0.atom", "arxiv_api_page1.atom", "arxiv_api_lookup.atom"],
    ),
    "arxiv_rss": (parse_rss_listing, ["arxiv_rss_cs.CV+cs.LG.xml"]),
}
CASES = [(name, f) for name, (_, files) in PARSERS.items() for f in files]
BYTES_HOSTILE = [
    b"&#xD800;", b"&#0;", b"&#x110000;", b"&#xFFFE;", b"&#99999999999999999999;", b"\xff",
    b"\xed\xb3\xbf", b"\x00", b"<", b"&", b"]]>", b"<!ENTITY x 'y'>", b"\\udcff", b'"', b"{",
    b"<?xml version='1.0' encoding='x-bogus'?>", b"\xef\xbb\xbf",
]  # fmt: skip


def _strings_ok(paper: Paper) -> None:
    for value in (paper.id, paper.title, paper.abstract, paper.url, *paper.authors):
        value.encode("utf-8")
        assert clean(value) == value


def _parse_safely(parse: Callable[[bytes], Parsed], data: bytes) -> Parsed | None:
    try:
        parsed = parse(data)
    except MalformedResponse:
        return None
    for paper in (*parsed.papers, *parsed.updates):
        _strings_ok(paper)
    return parsed


@pytest.mark.parametrize(("name", "fixture"), CASES)
def test_mutated_fixtures_and_random_bytes_never_escape_a_parse(name: str, fixture: str) -> None:
    parse, _ = PARSERS[name]
    original = (FIXTURES / fixture).read_bytes()

    @settings(FUZZ, max_examples=max(10, (EXAMPLES or 150) // len(CASES) * 2))
    @given(
        seed=st.integers(0, 2**32),
        ops=st.lists(st.sampled_from(["insert", "delete", "repeat", "cut", "flip"]), max_size=4),
        noise=st.binary(max_size=64),
    )
    def check(seed: int, ops: list[str], noise: bytes) -> None:
        rng = random.Random(seed)
        data = bytearray(original)
        for op in ops:
            at = rng.randrange(len(data) + 1)
            if op == "insert":
                data[at:at] = rng.choice(BYTES_HOSTILE)
            elif op == "delete":
                del data[at : at + rng.randrange(1, 64)]
            elif op == "repeat":
                data[at:at] = data[at : at + rng.randrange(1, 256)]
            elif op == "cut":
                del data[at:]
            elif op == "flip" and data:
                data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
        _parse_safely(parse, bytes(data))
        _parse_safely(parse, noise)

    check()


def _hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(st.text(ANY_CHAR, max_size=40), st.sampled_from(HOSTILE))


@FUZZ
@given(data=st.data())
def test_one_hostile_hugging_face_entry_costs_at_most_that_entry(data: st.DataObject) -> None:
    entries = json.loads((FIXTURES / "hf_daily_papers_2026-03-06.json").read_text())
    entries += json.loads((FIXTURES / "hf_daily_papers_2026-03-05.json").read_text())
    good = {p.id for p in parse_daily_papers(json.dumps(entries).encode()).papers}
    index = data.draw(st.integers(0, len(entries) - 1))
    field = data.draw(
        st.sampled_from(["title", "summary", "id", "authors", "upvotes", "githubRepo"])
    )
    value = data.draw(
        st.one_of(
            _hostile_text(),
            st.lists(st.fixed_dictionaries({"name": _hostile_text()}), max_size=3),
            st.integers(),
            st.none(),
        )
    )
    entries[index]["paper"][field] = value
    parsed = _parse_safely(parse_daily_papers, json.dumps(entries).encode())
    assert parsed is not None
    survivors = {p.id for p in parsed.papers}
    assert len(survivors & good) >= len(good) - 1
    assert len(parsed.papers) + parsed.bad >= len(entries)


@FUZZ
@given(
    fixture=st.sampled_from(PARSERS["feed"][1]),
    reference=st.sampled_from([b"&#xD800;", b"&#0;", b"&#x110000;", b"&#xFFFE;", b"&#x1b;"]),
    text=st.text(ANY_CHAR, max_size=20),
)
def test_a_bad_character_in_one_feed_item_costs_no_other_item(
    fixture: str, reference: bytes, text: str
) -> None:
    original = (FIXTURES / fixture).read_bytes()
    before = parse_feed(original, FEED_URL)
    at = original.find(b"<title>", original.find(b"<item") + 1)
    if at < 0:
        at = original.find(b"<title>", original.find(b"<entry") + 1)
    escaped = "".join(c if c.isalnum() and c.isascii() else f"&#{ord(c)};" for c in text)
    data = original[: at + 7] + reference + escaped.encode() + original[at + 7 :]
    after = _parse_safely(lambda d: parse_feed(d, FEED_URL), data)
    assert after is not None
    assert len(after.papers) == len(before.papers)


# --- compressed bodies against the cap ------------------------------------------------------------

CAP = 20_000
LAYER: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda b: gzip.compress(b, 6),
    "deflate": zlib.compress,
    "identity": lambda b: b,
}


@FUZZ
@given(
    layers=st.lists(st.sampled_from(sorted(LAYER)), min_size=1, max_size=4),
    size=st.one_of(st.integers(0, CAP), st.integers(CAP + 1, 40 * CAP)),
    zeros=st.booleans(),
    seed=st.integers(0, 2**32),
)
# Found by a long run: deflate of 19,985 random bytes is a little larger than the cap of 20,000.
@example(layers=["deflate", "deflate"], size=19_985, zeros=False, seed=0)
def test_compressed_bodies_of_every_layering_are_bounded_by_the_cap(
    layers: list[str], size: int, zeros: bool, seed: int
) -> None:
    payload = bytes(size) if zeros else random.Random(seed).randbytes(size)
    body = payload
    for name in layers:  # Content-Encoding lists them in the order applied
        body = LAYER[name](body)
    web = FakeWeb(FakeTime())
    web.on(
        "https://x.example/p",
        httpx.Response(
            200, stream=httpx.ByteStream(body), headers={"Content-Encoding": ", ".join(layers)}
        ),
    )

    async def get() -> bytes:
        return (await client(web, max_bytes=CAP).get("https://x.example/p")).content

    if size <= CAP:
        assert asyncio.run(get()) == payload
    else:
        with pytest.raises(SourceError, match=f"larger than {CAP} bytes"):
            asyncio.run(get())
