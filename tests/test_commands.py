"""The chat commands, pushed through the real handler, pipeline and database, read as a user would."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.delivery.digest import build_digest
from bot.models import ChannelRef
from tests.conftest import paper

CH = ChannelRef.parse("console:local:general")
OTHER = ChannelRef.parse("console:local:random")

PAPERS = [
    paper(1, "Video Diffusion Models at Scale", "We train diffusion models on video."),
    paper(2, "Sparse Attention for Long Context", "Transformers with long context windows."),
    paper(3, "A Survey of Diffusion Models", "We review diffusion.", upvotes=50),
    paper(4, "Reinforcement Learning in the World", "A world model for agents.", upvotes=3),
]


async def poll(pipeline, source, papers=PAPERS):  # type: ignore[no-untyped-def]
    source.papers = list(papers)
    return await pipeline.poll("list", force=True)


async def test_subscribe_digest_then_nothing_twice(pipeline, source, chat, clock):
    await poll(pipeline, source)
    reply = await chat.command(CH, "subscribe diffusion")
    assert not reply.error
    assert "Subscribed to `diffusion` (#1)" in reply.text
    assert "**2** papers" in reply.text
    assert [m.paper.id for m in reply.matches] == ["arxiv:2611.00003", "arxiv:2611.00001"]

    reply = await chat.command(CH, "digest")
    assert "Posted **2** papers in 1 message(s)" in reply.text
    assert chat.posted_ids(CH) == ["arxiv:2611.00003", "arxiv:2611.00001"]  # upvotes first
    assert [t for t in chat.posts[0].page.items[0].terms] == ["diffusion"]

    clock.advance(minutes=5)
    reply = await chat.command(CH, "digest")
    assert "Nothing new" in reply.text
    assert len(chat.posts) == 1


async def test_a_paper_seen_again_is_never_posted_twice(pipeline, source, chat, clock):
    await poll(pipeline, source)
    await chat.command(CH, "subscribe diffusion")
    await chat.command(CH, "digest")
    clock.advance(hours=1)
    await poll(pipeline, source)  # the same papers, seen again by the source
    await chat.command(CH, "digest")
    assert sorted(chat.posted_ids(CH)) == ["arxiv:2611.00001", "arxiv:2611.00003"]


async def test_whole_words_only(pipeline, source, chat):
    await poll(pipeline, source)
    await chat.command(CH, "subscribe rl")
    reply = await chat.command(CH, "preview")
    assert "empty" in reply.text  # "world" does not contain the word RL


async def test_preview_marks_nothing(pipeline, source, chat):
    await poll(pipeline, source)
    await chat.command(CH, "subscribe diffusion")
    reply = await chat.command(CH, "preview")
    assert "would hold **2** papers" in reply.text
    assert chat.posts == []
    await chat.command(CH, "digest")
    assert len(chat.posted_ids()) == 2


async def test_empty_and_duplicate_subscriptions_change_nothing(pipeline, chat, stores):
    empty = await chat.command(CH, "subscribe")
    assert empty.error and "Give a query" in empty.text
    blank = await chat.command(CH, "subscribe   ...  ")
    assert blank.error
    await chat.command(CH, "subscribe Diffusion")
    dup = await chat.command(CH, "subscribe diffusion")
    assert dup.error and "already follows `diffusion` (#1)" in dup.text
    assert len(await stores.channels.subscriptions(CH)) == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("diffusion models", "model diffusion"),
        ('"language models" -surveys', '-survey "language model"'),
        ("video OR audio", "audio OR videos"),
    ],
)
async def test_a_query_matching_the_same_papers_is_a_duplicate(
    pipeline, chat, stores, first, second
):
    await chat.command(CH, f"subscribe {first}")
    dup = await chat.command(CH, f"subscribe {second}")
    assert dup.error and "which matches the same papers" in dup.text
    assert len(await stores.channels.subscriptions(CH)) == 1
    # ...and either form removes it.
    assert "Unsubscribed from" in (await chat.command(CH, f"unsubscribe {second}")).text
    assert await stores.channels.subscriptions(CH) == []


async def test_unknown_command(pipeline, chat, stores):
    reply = await chat.command(CH, "subscrbe diffusion")
    assert reply.error
    assert "Unknown command `subscrbe`" in reply.text and "help" in reply.text
    assert await stores.channels.all() == []


async def test_list_and_unsubscribe_by_id_query_and_all(pipeline, chat, stores):
    await chat.command(CH, "subscribe diffusion")
    await chat.command(CH, "subscribe attention")
    await chat.command(CH, "subscribe video")
    listing = await chat.command(CH, "list")
    assert "#1 `diffusion`" in listing.text and "#3 `video`" in listing.text
    assert "09:00 UTC daily" in listing.text

    assert "Unsubscribed from `attention` (#2)" in (await chat.command(CH, "unsubscribe #2")).text
    assert "`video` (#3)" in (await chat.command(CH, "unsubscribe VIDEO")).text
    missing = await chat.command(CH, "unsubscribe #9")
    assert missing.error and "#1 `diffusion`" in missing.text
    await chat.command(CH, "unsubscribe all")
    assert await stores.channels.subscriptions(CH) == []


async def test_channels_are_separate(pipeline, source, chat):
    await poll(pipeline, source)
    await chat.command(CH, "subscribe diffusion")
    await chat.command(OTHER, "subscribe quantum")
    await chat.command(OTHER, "digest")
    assert chat.posted_ids(OTHER) == []
    await chat.command(CH, "digest")
    assert set(chat.posted_ids(CH)) == {"arxiv:2611.00001", "arxiv:2611.00003"}


async def test_search_covers_thirty_days(pipeline, source, chat, clock):
    await poll(pipeline, source)
    reply = await chat.command(CH, "search long context")
    assert [m.paper.id for m in reply.matches] == ["arxiv:2611.00002"]
    assert reply.matches[0].hits[0].field == "title"
    clock.advance(days=31)
    reply = await chat.command(CH, "search long context")
    assert reply.matches == () and "No paper of the last 30 days" in reply.text


async def test_search_reads_the_papers_off_the_event_loop(pipeline, source, chat, monkeypatch):
    import bot.delivery.pipeline

    await poll(pipeline, source)
    threads: set[int] = set()
    real = bot.delivery.pipeline.explain

    def explain(query, paper):  # type: ignore[no-untyped-def]
        threads.add(threading.get_ident())
        return real(query, paper)

    monkeypatch.setattr(bot.delivery.pipeline, "explain", explain)
    reply = await chat.command(CH, "search long context")
    assert [m.paper.id for m in reply.matches] == ["arxiv:2611.00002"]
    assert threads and threading.get_ident() not in threads  # the loop answers others meanwhile


async def test_first_digest_covers_the_last_day_only(pipeline, source, chat, clock):
    await poll(pipeline, source, PAPERS[:1])
    clock.advance(hours=30)
    await poll(pipeline, source, PAPERS[:3])
    await chat.command(CH, "subscribe diffusion")
    await chat.command(CH, "digest")
    assert chat.posted_ids() == ["arxiv:2611.00003"]


async def test_digest_caps_at_max_and_says_how_many_more(pipeline, source, chat):
    many = [paper(i, f"Diffusion study {i}", upvotes=i) for i in range(1, 16)]
    await poll(pipeline, source, many)
    await chat.command(CH, "subscribe diffusion")
    await chat.command(CH, "settings max=5")
    reply = await chat.command(CH, "digest")
    assert "Posted **5** papers" in reply.text and "10 more" in reply.text
    page = chat.posts[0].page
    assert [m.paper.upvotes for m in page.items] == [15, 14, 13, 12, 11]
    assert page.more == 10


async def test_min_upvotes_floor(pipeline, source, chat):
    await poll(pipeline, source)
    await chat.command(CH, "subscribe diffusion")
    await chat.command(CH, "settings min-upvotes=10")
    await chat.command(CH, "digest")
    assert chat.posted_ids() == ["arxiv:2611.00003"]


async def test_a_paused_channel_gets_no_digest_even_on_demand(pipeline, source, chat):
    await poll(pipeline, source)
    await chat.command(CH, "subscribe diffusion")
    await chat.command(CH, "pause")
    reply = await chat.command(CH, "digest")
    assert reply.text == "Nothing posted: the channel is paused (`resume` ends it)."
    assert chat.posted_ids() == []
    await chat.command(CH, "resume")
    await chat.command(CH, "digest")
    assert sorted(chat.posted_ids()) == ["arxiv:2611.00001", "arxiv:2611.00003"]


async def test_a_digest_before_any_subscription_keeps_the_first_window(pipeline, source, chat):
    await poll(pipeline, source)
    reply = await chat.command(CH, "digest")
    assert reply.text == "Nothing posted: the channel follows nothing yet."
    await chat.command(CH, "subscribe diffusion")
    assert len((await chat.command(CH, "preview")).matches) == 2
    await chat.command(CH, "digest")
    assert sorted(chat.posted_ids()) == ["arxiv:2611.00001", "arxiv:2611.00003"]


async def test_bad_setting_and_subscription_numbers_are_clear_errors(pipeline, chat, stores):
    await chat.command(CH, "subscribe diffusion")
    huge = await chat.command(CH, "settings min-upvotes=9223372036854775808")
    assert huge.error and "min-upvotes must be between 0 and 1,000,000" in huge.text
    assert (await stores.channels.get(CH)).settings.min_upvotes == 0
    reply = await chat.command(CH, "unsubscribe #²")
    assert reply.error and "No subscription `#²` here" in reply.text
    assert len(await stores.channels.subscriptions(CH)) == 1
    assert "threads=on" in (await chat.command(CH, "settings threads=true")).text


async def test_error_messages_stay_short_and_extra_words_are_refused(pipeline, chat, stores):
    for n in range(15):
        await chat.command(CH, f"subscribe topic{n}")
    reply = await chat.command(CH, "unsubscribe " + "nothing " * 500)
    assert reply.error and len(reply.text) < 600
    assert "nothing nothing" in reply.text and "…" in reply.text
    reply = await chat.command(CH, "unsubscribe elsewhere")
    assert reply.error and reply.text.endswith("and 5 more (`list` shows them all).")
    reply = await chat.command(CH, "pause now")
    assert reply.error and "`pause` takes nothing after it (got `now`)" in reply.text
    assert not (await stores.channels.get(CH)).paused
    await chat.command(CH, "unsubscribe all")
    reply = await chat.command(CH, "unsubscribe all")
    assert reply.text == "This channel follows nothing, so there is nothing to unsubscribe from."


async def test_admins_only_refuses_changes_politely(pipeline, chat, stores):
    reply = await chat.command(CH, "subscribe diffusion", can_manage=False)
    assert reply.error and "only admins can change" in reply.text
    assert await stores.channels.subscriptions(CH) == []
    assert not (await chat.command(CH, "list", can_manage=False)).error


async def test_schedule_settings_pause_resume(pipeline, chat, stores):
    reply = await chat.command(CH, "schedule 07:30 Europe/Berlin weekdays")
    assert "07:30 Europe/Berlin weekdays" in reply.text
    bad = await chat.command(CH, "schedule 07:30 Europe/Berln")
    assert (
        bad.error and "unknown time zone 'Europe/Berln' (did you mean Europe/Berlin?)" in bad.text
    )
    assert (await chat.command(CH, "schedule 25:00")).error
    channel = await stores.channels.get(CH)
    assert channel.schedule.describe() == "07:30 Europe/Berlin weekdays"

    bad = await chat.command(CH, "settings max=5 threads=maybe")
    assert bad.error and "threads must be on or off" in bad.text
    assert (await stores.channels.get(CH)).settings.max_items == 10  # nothing changed
    assert "max=5" in (await chat.command(CH, "settings max=5 threads=on")).text

    await chat.command(CH, "pause")
    assert (await stores.channels.get(CH)).paused
    assert "paused" in (await chat.command(CH, "list")).text
    await chat.command(CH, "resume")
    assert not (await stores.channels.get(CH)).paused
    off = await chat.command(CH, "schedule off")
    assert "off" in off.text


async def test_help_lists_every_command(pipeline, chat):
    reply = await chat.command(CH, "help")
    for name in (
        "subscribe",
        "unsubscribe",
        "list",
        "digest",
        "preview",
        "search",
        "trending",
        "schedule",
        "settings",
        "pause",
        "resume",
    ):
        assert f"`{name}" in reply.text


async def test_trending_lists_huggingface_papers_by_upvotes(pipeline, source, chat):
    hf = [
        paper(7, "Small", upvotes=3, sources=("huggingface",)),
        paper(8, "Big", upvotes=90, sources=("huggingface",)),
        paper(9, "Not HF", upvotes=500, sources=("arxiv",)),
    ]
    await poll(pipeline, source, hf)
    reply = await chat.command(CH, "trending")
    assert [m.paper.title for m in reply.matches] == ["Big", "Small"]


async def test_trending_shows_the_ten_most_upvoted_with_ties_by_id(pipeline, source, chat):
    # Twelve Hugging Face papers, half of them never upvoted: the database ranks and cuts.
    hf = [
        paper(40 - i, f"P{i}", upvotes=5 if i % 2 else None, sources=("huggingface",))
        for i in range(12)
    ]
    await poll(pipeline, source, hf)
    reply = await chat.command(CH, "trending")
    assert [m.paper.title for m in reply.matches] == [
        *("P11", "P9", "P7", "P5", "P3", "P1"),  # 5 upvotes, lowest id first
        *("P10", "P8", "P6", "P4"),  # none
    ]


async def test_trending_follows_upvotes_as_they_change(pipeline, source, chat, clock):
    first = [
        paper(7, "Small", upvotes=3, sources=("huggingface",)),
        paper(8, "Big", upvotes=90, sources=("huggingface",)),
    ]
    await poll(pipeline, source, first)
    clock.advance(hours=2)
    await poll(pipeline, source, [replace(first[0], upvotes=120)])  # the day's votes came in
    reply = await chat.command(CH, "trending")
    assert [(m.paper.title, m.paper.upvotes) for m in reply.matches] == [
        ("Small", 120),
        ("Big", 90),
    ]
    clock.advance(hours=35)  # 37 hours after the first poll: out of the 36 hours trending reads
    assert (await chat.command(CH, "trending")).matches == ()


async def test_subscribe_preview_counts_only_last_seven_days(pipeline, source, chat, clock):
    await poll(pipeline, source, PAPERS[:1])
    clock.advance(days=8)
    await poll(pipeline, source, PAPERS[:3])
    reply = await chat.command(CH, "subscribe diffusion")
    assert "**1** paper of the last 7 days" in reply.text


async def test_source_failure_is_backed_off_and_reported(pipeline, source, clock, stores):
    source.error = RuntimeError("boom")
    report = await pipeline.poll("list")
    assert report.error and "boom" in report.error
    state = await stores.sources.get("list")
    assert state.failures == 1 and state.next_poll_at == clock() + timedelta(hours=1)
    report = await pipeline.poll("list")
    assert report.skipped  # backing off
    clock.advance(hours=1, seconds=1)
    await pipeline.poll("list")
    state = await stores.sources.get("list")
    assert state.failures == 2 and state.next_poll_at == clock() + timedelta(hours=2)
    source.error = None
    clock.advance(hours=3)
    report = await pipeline.poll("list")
    assert report.error is None
    assert (await stores.sources.get("list")).failures == 0


async def test_the_same_meaning_subscribed_twice_at_once_is_stored_once(pipeline, chat, stores):
    import asyncio

    one, two = await asyncio.gather(
        chat.command(CH, "subscribe diffusion model"),
        chat.command(CH, "subscribe diffusion models"),
    )
    assert sorted([one.error, two.error]) == [False, True]
    assert "which matches the same papers" in (one if one.error else two).text
    assert len(await stores.channels.subscriptions(CH)) == 1


async def test_preview_finds_through_the_index_what_reading_its_window_finds(
    pipeline, source, chat, stores, clock
):
    # A phrase with a wildcard (the index finds a superset, the evaluator decides), an
    # exclusion, papers before the window, and papers already posted.
    await poll(pipeline, source, [paper(10, "Diffusion models of old", "A diffusion model.")])
    clock.advance(days=3)
    await poll(pipeline, source)
    for query in ('"diffus* model"', "video -survey", "world"):
        await chat.command(CH, f"subscribe {query}")
    await chat.command(CH, "digest")
    clock.advance(hours=1)
    later = [
        paper(5, "Diffusion Model Distillation", "Fast diffusion models in one step."),
        paper(6, "Diffusers modelling language", "A diffuse model of text."),
        paper(7, "Video understanding: a survey", "We survey video models."),
        paper(8, "Video world models", "Agents in a video world.", upvotes=9),
    ]
    await poll(pipeline, source, later)

    reply = await chat.command(CH, "preview")

    channel = await stores.channels.get(CH)
    window = await stores.papers.seen_between(pipeline.window_start(channel, clock()), clock())
    done = await stores.deliveries.delivered_ids(CH, [p.id for p in window])
    unposted = [m for m in pipeline.book.matches_for(CH, window) if m.paper.id not in done]
    expected = build_digest(channel, unposted, "").items
    assert [m.paper.id for m in reply.matches] == [m.paper.id for m in expected]
    # 8 is about video and not a survey (and the world); 5 and 6 hold "diffus*" then "model"
    # ("diffuse model" in 6's abstract), 7 is a survey, 10 is before the window.
    assert sorted(m.paper.id for m in reply.matches) == [
        "arxiv:2611.00005",
        "arxiv:2611.00006",
        "arxiv:2611.00008",
    ]
