"""Storage on SQLite and (when configured) PostgreSQL: merge, uniqueness, the ledger, state."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from bot.models import ChannelRef, Schedule
from bot.stores import DuplicateSubscription, LedgerPage, SourceState
from storage.migrate import current, upgrade
from tests.conftest import paper

CH = ChannelRef.parse("slack:T1:C1")


async def test_migrations_are_applied_once_and_idempotent(engine):
    assert await current(engine) == "0015"
    await upgrade(engine)
    assert await current(engine) == "0015"


async def test_new_papers_get_first_seen_and_sightings_merge(stores, clock):
    first = clock()
    hf = paper(
        1, "Title", "short", upvotes=5, code_url="https://github.com/x/y", sources=("huggingface",)
    )
    result = await stores.papers.upsert([hf], first)
    assert [p.id for p in result.new] == ["arxiv:2611.00001"]
    assert result.new[0].first_seen == first

    clock.advance(hours=2)
    arxiv = paper(1, "Title", "a much longer abstract", categories=("cs.CV",), sources=("arxiv",))
    result = await stores.papers.upsert([arxiv], clock())
    assert result.new == [] and result.updated == 1
    stored = (await stores.papers.get_many(["arxiv:2611.00001"]))["arxiv:2611.00001"]
    assert stored.first_seen == first  # digests key on it: it never moves
    assert stored.upvotes == 5 and stored.categories == ("cs.CV",)
    assert stored.code_url == "https://github.com/x/y"
    assert stored.abstract == "a much longer abstract"
    assert stored.sources == ("huggingface", "arxiv")


async def test_updates_only_never_insert(stores, clock):
    result = await stores.papers.upsert([paper(1, "Replaced")], clock(), insert_new=False)
    assert result.new == [] and await stores.papers.count() == 0


async def test_same_paper_twice_in_one_batch_is_one_record(stores, clock):
    result = await stores.papers.upsert(
        [paper(1, "A", upvotes=1), paper(1, "A", upvotes=9)], clock()
    )
    assert len(result.new) == 1 and result.new[0].upvotes == 9


async def test_seen_between_is_half_open(stores, clock):
    t0 = clock()
    await stores.papers.upsert([paper(1, "A")], t0)
    await stores.papers.upsert([paper(2, "B")], t0 + timedelta(hours=1))
    assert [p.id for p in await stores.papers.seen_between(t0, t0 + timedelta(hours=1))] == [
        "arxiv:2611.00002"
    ]
    assert len(await stores.papers.seen_between(None, t0 + timedelta(hours=1))) == 2


async def _texts(stores, start, end, size=2_000):
    return [page async for page in stores.papers.texts_between(start, end, size)]


async def test_the_rankings_texts_are_the_windows_papers_oldest_first(stores, clock):
    t0 = clock()
    for n, hours in ((1, 0), (2, 2), (3, 1)):
        await stores.papers.upsert([paper(n, f"Paper {n}")], t0 + timedelta(hours=hours))
    (texts,) = await _texts(stores, t0, t0 + timedelta(hours=2))
    assert [(t.id, t.title) for t in texts] == [
        ("arxiv:2611.00003", "Paper 3"),
        ("arxiv:2611.00002", "Paper 2"),
    ]
    assert all(isinstance(t.abstract, str) for t in texts)


async def test_the_rankings_texts_come_in_pages_each_paper_once(stores, clock):
    # A poll stores its papers with one first_seen: pages must carry on within a tie (by id).
    t0 = clock()
    await stores.papers.upsert([paper(n, f"Paper {n}") for n in (5, 1, 4)], t0 + timedelta(hours=1))
    await stores.papers.upsert([paper(n, f"Paper {n}") for n in (3, 2)], t0 + timedelta(hours=2))
    pages = await _texts(stores, t0, t0 + timedelta(hours=2), size=2)
    assert [[t.id[-1] for t in page] for page in pages] == [["1", "4"], ["5", "2"], ["3"]]
    assert await _texts(stores, t0 + timedelta(hours=2), t0 + timedelta(hours=3)) == []
    exact = await _texts(stores, t0, t0 + timedelta(hours=1), size=3)  # a full last page
    assert [[t.id[-1] for t in page] for page in exact] == [["1", "4", "5"]]


async def test_subscriptions_are_unique_per_channel(stores, clock):
    await stores.channels.ensure(CH, Schedule(), clock())
    sub = await stores.channels.subscribe(CH, "Diffusion", "diffusion", clock())
    with pytest.raises(DuplicateSubscription) as dup:
        await stores.channels.subscribe(CH, "diffusion", "diffusion", clock())
    assert dup.value.existing.id == sub.id
    other = ChannelRef.parse("slack:T1:C2")
    await stores.channels.ensure(other, Schedule(), clock())
    await stores.channels.subscribe(other, "diffusion", "diffusion", clock())
    assert len(await stores.channels.all_subscriptions()) == 2


async def test_ledger_is_unique_on_channel_and_paper(stores, clock):
    await stores.channels.ensure(CH, Schedule(), clock())
    await stores.papers.upsert([paper(1, "A")], clock())
    page = LedgerPage(delivery_id="d1", paper_ids=("arxiv:2611.00001",))
    await stores.deliveries.record(CH, [page], clock(), clock())
    with pytest.raises(IntegrityError):
        await stores.deliveries.record(
            CH, [LedgerPage(delivery_id="d2", paper_ids=("arxiv:2611.00001",))], clock(), clock()
        )
    assert await stores.deliveries.delivered_ids(CH, ["arxiv:2611.00001", "x"]) == {
        "arxiv:2611.00001"
    }
    # the failed record changed nothing: one open page, window moved once
    assert [p.delivery_id for p in await stores.deliveries.open_pages(CH)] == ["d1"]


async def test_digests_recorded_at_once_share_a_trip_and_keep_their_own_outcome(
    stores, engine, clock
):
    """Three channels record at once (as a sweep does): they go in one transaction, and the
    one whose paper is already in its ledger fails alone, leaving nothing of itself behind."""
    refs = [ChannelRef.parse(f"slack:T1:C{i}") for i in range(3)]
    for ref in refs:
        await stores.channels.ensure(ref, Schedule(), clock())
    await stores.deliveries.record(
        refs[1], [LedgerPage(delivery_id="old", paper_ids=("p1",))], clock(), clock()
    )
    clock.advance(hours=1)
    transactions = _count_transactions(engine)
    outcomes = await asyncio.gather(
        *(
            stores.deliveries.record(
                ref, [LedgerPage(delivery_id=f"d{i}", paper_ids=("p1", "p2"))], clock(), clock()
            )
            for i, ref in enumerate(refs)
        ),
        return_exceptions=True,
    )
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], IntegrityError)
    # one trip for the three, then each alone after it failed
    assert len(transactions) == 4
    for ref in (refs[0], refs[2]):
        assert await stores.deliveries.delivered_ids(ref, ["p1", "p2"]) == {"p1", "p2"}
        assert (await stores.channels.get(ref)).last_digest_at == clock()
    assert [p.delivery_id for p in await stores.deliveries.open_pages(refs[1])] == ["old"]
    assert (await stores.channels.get(refs[1])).last_digest_at == clock() - timedelta(hours=1)

    transactions.clear()
    await asyncio.gather(
        stores.deliveries.mark_sent("d0", "ts0", clock()),
        stores.deliveries.mark_sent("d2", "ts2", clock()),
    )
    assert len(transactions) == 1
    assert await stores.deliveries.counts() == {
        str(refs[0]): {"sent": 2},
        str(refs[1]): {"pending": 1},
        str(refs[2]): {"sent": 2},
    }
    unknown = ChannelRef.parse("slack:T1:C9")
    transactions.clear()
    got = await asyncio.gather(*(stores.channels.get(r) for r in [*refs, unknown, refs[0]]))
    assert [c.ref if c else None for c in got] == [*refs, None, refs[0]]
    assert len(transactions) == 1  # read in one query


def _count_transactions(engine) -> list[object]:
    """Every transaction begun on `engine` from now on."""
    begun: list[object] = []
    event.listen(engine.sync_engine, "begin", begun.append)
    return begun


async def test_ledger_claim_send_release(stores, clock):
    await stores.channels.ensure(CH, Schedule(), clock())
    page = LedgerPage(delivery_id="d1", paper_ids=("p1", "p2"), page=1, pages=2, more=3)
    await stores.deliveries.record(CH, [page], clock(), clock())
    assert await stores.deliveries.claim("d1", clock())
    assert not await stores.deliveries.claim("d1", clock())  # nobody claims it twice
    [open_page] = await stores.deliveries.open_pages(CH, clock())
    assert (
        open_page.state == "sending" and open_page.paper_ids == ("p1", "p2") and open_page.more == 3
    )

    await stores.deliveries.release("d1", "timeout", clock() + timedelta(minutes=5))
    assert await stores.deliveries.open_pages(CH, clock()) == []  # not due yet
    clock.advance(minutes=6)
    assert await stores.deliveries.claim("d1", clock())
    await stores.deliveries.mark_sent("d1", "ts1", clock())
    assert await stores.deliveries.open_pages(CH) == []
    assert await stores.deliveries.counts() == {str(CH): {"sent": 2}}


async def test_source_state_round_trip(stores, clock):
    assert (await stores.sources.get("arxiv")).failures == 0
    state = SourceState(
        name="arxiv", cursor={"etag": '"x"'}, failures=2, last_error="503", next_poll_at=clock()
    )
    await stores.sources.save(state)
    await stores.sources.save(state)
    got = await stores.sources.get("arxiv")
    assert got.cursor == {"etag": '"x"'} and got.failures == 2 and got.next_poll_at == clock()


async def test_inactive_channel_keeps_reason_until_resumed(stores, clock):
    channel = await stores.channels.ensure(CH, Schedule(), clock())
    await stores.channels.set_inactive(CH, "is_archived")
    assert not (await stores.channels.get(CH)).active
    assert await stores.channels.inactive_reason(CH) == "is_archived"
    await stores.channels.save(channel)  # active again
    assert await stores.channels.inactive_reason(CH) is None


async def test_a_window_read_while_papers_are_stored_misses_none(stores):
    import asyncio
    import itertools
    from datetime import UTC, datetime

    ticks = itertools.count()

    def clock() -> datetime:  # every reading a second later: a stamp and a read never tie
        return datetime(2026, 11, 30, 8, tzinfo=UTC) + timedelta(seconds=next(ticks))

    for round_ in range(25):
        batch = [paper(f"w{round_}-{i}", f"Paper {round_} {i}") for i in range(5)]
        stored, (window, end) = await asyncio.gather(
            stores.papers.upsert(batch, clock), stores.papers.seen_since(None, clock)
        )
        read = {p.id for p in window}
        for new in stored.new:  # in this window, or stamped after it (so in the next one)
            assert new.id in read or new.first_seen > end, (round_, new.id)


async def test_two_changes_read_at_once_keep_each_other(stores, clock):
    from dataclasses import replace

    ref = ChannelRef.parse("slack:T1:C1")
    await stores.channels.ensure(ref, Schedule(), clock())
    pausing, resizing = await stores.channels.get(ref), await stores.channels.get(ref)
    await stores.channels.save(replace(pausing, paused=True), pausing)
    await stores.channels.set_inactive(ref, "channel_not_found")  # the bot, meanwhile
    settings = replace(resizing.settings, max_items=5)
    await stores.channels.save(replace(resizing, settings=settings), resizing)
    now = await stores.channels.get(ref)
    assert (now.paused, now.active, now.settings.max_items) == (True, False, 5)
    assert await stores.channels.inactive_reason(ref) == "channel_not_found"
