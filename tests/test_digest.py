"""Digest building and the shared rendering helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.delivery.digest import build_digest, paginate, rank
from bot.delivery.render import first_authors, first_sentence, highlight, spans, truncate
from bot.models import Channel, ChannelRef, ChannelSettings, Hit, Match
from tests.conftest import paper

CH = ChannelRef.parse("slack:T1:C1")
T0 = datetime(2026, 11, 30, tzinfo=UTC)


def match(n, *, field="title", upvotes=None, seen=0):  # type: ignore[no-untyped-def]
    p = paper(n, f"P{n}", upvotes=upvotes, first_seen=T0 + timedelta(hours=seen))
    return Match(p, (1,), (Hit(field, "w", 0, 1),))


def test_rank_title_then_upvotes_then_recency():
    ranked = rank(
        [
            match(1, field="abstract", upvotes=100),
            match(2, upvotes=5, seen=1),
            match(3, upvotes=5, seen=2),
            match(4, upvotes=50),
        ]
    )
    assert [m.paper.id[-1] for m in ranked] == ["4", "3", "2", "1"]


def test_build_caps_and_counts_the_rest():
    channel = Channel(ref=CH, settings=ChannelSettings(max_items=2, min_upvotes=3))
    digest = build_digest(channel, [match(i, upvotes=i) for i in range(1, 7)])
    assert [m.paper.upvotes for m in digest.items] == [6, 5]
    assert digest.more == 2  # 3 and 4 are above the floor; 1 and 2 are not counted


def test_paginate_keeps_order_and_puts_more_on_the_last_page():
    channel = Channel(ref=CH, settings=ChannelSettings(max_items=7))
    digest = build_digest(channel, [match(i, upvotes=10 - i) for i in range(1, 10)])
    pages = paginate(digest, lambda d: len(d.items) <= 3)
    assert [len(p.items) for p in pages] == [3, 3, 1]
    assert [(p.page, p.pages, p.more) for p in pages] == [(1, 3, 0), (2, 3, 0), (3, 3, 2)]
    assert [m for p in pages for m in p.items] == list(digest.items)


def test_paginate_moves_an_item_when_more_does_not_fit():
    channel = Channel(ref=CH, settings=ChannelSettings(max_items=3))
    digest = build_digest(channel, [match(i) for i in range(1, 6)])
    pages = paginate(digest, lambda d: len(d.items) + (1 if d.more else 0) <= 3)
    assert [len(p.items) for p in pages] == [3] or [len(p.items) for p in pages] == [2, 1]
    assert all(len(p.items) + (1 if p.more else 0) <= 3 for p in pages)


def test_first_authors():
    assert first_authors([]) == ""
    assert first_authors(["A"]) == "A"
    assert first_authors(["A", "B"]) == "A and B"
    assert first_authors(["A", "B", "C"]) == "A, B and C"
    assert first_authors(["A", "B", "C", "D"]) == "A, B, C et al."


def test_first_sentence_skips_abbreviations_and_truncates():
    text = "We use e.g. diffusion models, i.e. DDPMs. Then more text follows here."
    assert first_sentence(text) == "We use e.g. diffusion models, i.e. DDPMs."
    assert first_sentence("word " * 200, limit=50).endswith("…")
    assert len(first_sentence("word " * 200, limit=50)) <= 50
    assert truncate("short", 10) == "short"


def test_highlight_merges_overlaps_and_escapes():
    hits = [Hit("title", "a", 0, 3), Hit("title", "b", 2, 5), Hit("abstract", "c", 0, 3)]
    assert spans("<abc> def", hits, "title") == [("<abc>", True), (" def", False)]
    out = highlight(
        "<abc> def", hits, "title", lambda s: f"*{s}*", lambda s: s.replace("<", "&lt;")
    )
    assert out == "*&lt;abc>* def"
