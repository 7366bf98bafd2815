"""Schedules in time zones and across DST, and the database-driven 'is a digest owed?' rule."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest

from adapters.scheduling.timer import ApsTimer
from bot.delivery.scheduler import Scheduler, due_slot
from bot.delivery.schedules import (
    ScheduleError,
    fire_times,
    next_slot,
    parse_schedule,
    schedule_zone,
    zone,
)
from bot.models import Channel, ChannelRef, Days, Schedule

CH = ChannelRef.parse("console:local:general")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_daily_slots_follow_the_local_clock_across_dst():
    berlin = Schedule(time(9, 0), "Europe/Berlin", Days.DAILY)
    slots = fire_times(berlin, utc(2026, 3, 27), utc(2026, 3, 31))
    assert slots == [
        utc(2026, 3, 27, 8),
        utc(2026, 3, 28, 8),
        utc(2026, 3, 29, 7),
        utc(2026, 3, 30, 7),
    ]
    assert all(s.astimezone(zone("Europe/Berlin")).hour == 9 for s in slots)


def test_fall_back_repeated_hour_fires_once():
    ny = Schedule(time(1, 30), "America/New_York", Days.DAILY)
    slots = fire_times(ny, utc(2026, 11, 1, 0), utc(2026, 11, 2, 0))
    assert slots == [utc(2026, 11, 1, 5, 30)]  # 01:30 EDT, the first of the two


def test_spring_forward_gap_fires_later_that_day():
    berlin = Schedule(time(2, 30), "Europe/Berlin", Days.DAILY)
    [slot] = fire_times(berlin, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    assert slot.astimezone(zone("Europe/Berlin")).strftime("%H:%M") == "03:30"


def test_weekdays_skip_the_weekend_in_the_channel_zone():
    tokyo = Schedule(time(8, 0), "Asia/Tokyo", Days.WEEKDAYS)
    slots = fire_times(tokyo, utc(2026, 11, 27), utc(2026, 12, 2))  # Fri 27 .. Tue 1 (JST)
    local_days = [s.astimezone(zone("Asia/Tokyo")).strftime("%a") for s in slots]
    assert local_days == ["Mon", "Tue", "Wed"] or local_days == ["Mon", "Tue"]
    assert "Sat" not in local_days and "Sun" not in local_days


def test_off_never_fires():
    assert fire_times(Schedule(days=Days.OFF), utc(2026, 1, 1), utc(2026, 2, 1)) == []
    assert next_slot(Schedule(days=Days.OFF), utc(2026, 1, 1)) is None


def test_parse_schedule_errors_say_what_to_type():
    with pytest.raises(ScheduleError, match="did you mean Europe/Berlin"):
        parse_schedule("09:00 Europe/Berln", Schedule())
    with pytest.raises(ScheduleError, match="24-hour"):
        parse_schedule("9am", Schedule())
    assert parse_schedule("7:05 europe/paris", Schedule()).describe() == "07:05 Europe/Paris daily"
    assert parse_schedule("off", Schedule()).days is Days.OFF
    assert parse_schedule("10:00", Schedule(days=Days.OFF)).days is Days.DAILY
    for server_setting in ("localtime", "Factory", "posixrules", "posix/Europe/Berlin"):
        with pytest.raises(ScheduleError, match=f"unknown time zone '{server_setting}'"):
            parse_schedule(f"07:15 {server_setting}", Schedule())
    with pytest.raises(ScheduleError, match="'weekends' is not a choice of days"):
        parse_schedule("21:30 UTC weekends", Schedule())


def test_missed_slots_coalesce_into_one_owed_digest():
    created = utc(2026, 11, 20, 12)
    channel = Channel(
        ref=CH,
        schedule=Schedule(time(9, 0)),
        created_at=created,
        last_digest_at=utc(2026, 11, 25, 9),
    )
    now = utc(2026, 11, 30, 10)  # down for five days
    assert due_slot(channel, now) == utc(2026, 11, 30, 9)  # only the latest slot is owed
    served = Channel(
        ref=CH,
        schedule=Schedule(time(9, 0)),
        created_at=created,
        last_digest_at=utc(2026, 11, 30, 9, 0, 1),
    )
    assert due_slot(served, now) is None
    fresh = Channel(ref=CH, schedule=Schedule(time(9, 0)), created_at=utc(2026, 11, 30, 9, 30))
    assert due_slot(fresh, now) is None  # a channel made after today's slot waits for tomorrow
    paused = Channel(ref=CH, schedule=Schedule(time(9, 0)), created_at=created, paused=True)
    assert due_slot(paused, now) is None


async def test_sweep_posts_one_catch_up_digest_after_downtime(
    pipeline, source, chat, clock, stores
):
    from tests.conftest import paper

    clock.set(utc(2026, 11, 25, 8))
    source.papers = [paper(1, "Diffusion one")]
    await pipeline.poll("list", force=True)
    await chat.command(CH, "subscribe diffusion")
    scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1))
    clock.set(utc(2026, 11, 25, 9, 0, 30))
    assert [r.posted for r in await scheduler.sweep()] == [1]
    # the bot is down for days; more papers arrived meanwhile
    clock.set(utc(2026, 11, 28, 12))
    source.papers = [paper(2, "Diffusion two"), paper(3, "Diffusion three")]
    await pipeline.poll("list", force=True)
    clock.set(utc(2026, 11, 29, 15))
    reports = await scheduler.sweep()
    assert [r.posted for r in reports] == [1]
    assert len(chat.posts) == 2 and sorted(chat.posts[1].paper_ids) == [
        "arxiv:2611.00002",
        "arxiv:2611.00003",
    ]
    assert await scheduler.sweep() == []  # nothing more owed until tomorrow's slot
    clock.set(utc(2026, 11, 30, 9, 1))
    assert [r.posted for r in await scheduler.sweep()] == [0]  # due, but nothing new
    assert len(chat.posts) == 2


async def test_schedule_change_by_command_applies_at_once(pipeline, source, chat, clock, stores):
    scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1))
    pipeline_handler = chat.handler
    pipeline_handler.on_channel_change = scheduler.on_channel_change
    clock.set(utc(2026, 11, 30, 5))
    await chat.command(CH, "subscribe diffusion")
    await chat.command(CH, "schedule 07:00 Europe/Berlin weekdays")
    job = scheduler.timer.aps.get_job(f"digest:{CH}")
    assert job is not None and str(job.trigger.timezone) == "Europe/Berlin"
    assert "day_of_week='mon-fri'" in str(job.trigger)
    channel = await stores.channels.get(CH)
    assert scheduler.next_run(channel) == utc(2026, 11, 30, 6)  # 07:00 CET
    clock.set(utc(2026, 11, 30, 6, 0, 5))
    assert due_slot(channel, clock()) == utc(2026, 11, 30, 6)
    await chat.command(CH, "schedule off")
    assert not scheduler.timer.has(f"digest:{CH}")


async def test_stop_waits_for_a_running_poll_to_finish(pipeline, source):
    from tests.conftest import paper

    source.papers = [paper(1, "Diffusion one")]
    started, release = asyncio.Event(), asyncio.Event()
    fetch = source.fetch

    async def slow_fetch(since, cursor):  # type: ignore[no-untyped-def]
        started.set()
        await release.wait()
        return await fetch(since, cursor)

    source.fetch = slow_fetch
    scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1))
    job = asyncio.create_task(scheduler.poll("list"))
    await started.wait()
    stopping = asyncio.create_task(scheduler.stop())
    for _ in range(5):  # let stop run as far as it goes: it waits on the job
        await asyncio.sleep(0)
    assert not stopping.done()
    release.set()
    await stopping
    report = job.result()  # finished, not cancelled
    assert [p.id for p in report.new] == ["arxiv:2611.00001"]


async def test_stop_cancels_a_job_still_running_after_the_grace_period(pipeline, source):
    started = asyncio.Event()

    async def stuck_fetch(since, cursor):  # type: ignore[no-untyped-def]
        started.set()
        await asyncio.Event().wait()  # never answers

    source.fetch = stuck_fetch
    scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1))
    job = asyncio.create_task(scheduler.poll("list"))
    await started.wait()
    await scheduler.stop(grace=0)
    assert job.cancelled()


async def test_a_zone_this_host_does_not_know_falls_back_to_utc_for_that_channel_alone(
    pipeline, source, chat, clock, stores, caplog
):
    from dataclasses import replace

    from tests.conftest import paper

    clock.set(utc(2026, 11, 30, 8))
    other = ChannelRef.parse("console:local:other")
    for ref in (CH, other):
        await chat.command(ref, "subscribe diffusion")
    gone = await stores.channels.get(other)
    # A name a later tzdata dropped (read back from the database as it was stored).
    await stores.channels.save(replace(gone, schedule=replace(gone.schedule, timezone="US/Gone")))
    source.papers = [paper(1, "Diffusion one")]
    await pipeline.poll("list", force=True)
    schedule_zone.cache_clear()  # it warns once per name and process
    scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1))
    for channel in await stores.channels.all():  # what start() does: the odd one runs on UTC
        scheduler.reschedule(channel)
    assert scheduler.timer.has(f"digest:{other}")
    clock.set(utc(2026, 11, 30, 9, 0, 30))
    assert sorted(r.papers for r in await scheduler.sweep()) == [1, 1]
    assert "time zone 'US/Gone' is unknown on this host" in caplog.text


async def test_pause_also_holds_a_page_waiting_for_its_retry(pipeline, source, chat, clock):
    from bot.ports import TransientChatError
    from tests.conftest import paper

    clock.set(utc(2026, 11, 30, 8))
    await chat.command(CH, "subscribe diffusion")
    source.papers = [paper(1, "Diffusion one")]
    await pipeline.poll("list", force=True)
    scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1))
    chat.failures = [TransientChatError("rate limited", retry_after=30)]
    clock.set(utc(2026, 11, 30, 9, 0, 30))
    assert [r.pending for r in await scheduler.sweep()] == [1]
    await chat.command(CH, "pause")
    clock.set(utc(2026, 11, 30, 9, 5))
    assert await scheduler.sweep() == []
    assert (await pipeline.flush(CH)).posted == 0
    assert chat.posts == []  # paused means nothing goes out
    await chat.command(CH, "resume")
    assert [r.posted for r in await scheduler.sweep()] == [1]
    assert chat.posted_ids() == ["arxiv:2611.00001"]


async def test_a_schedule_moved_to_a_time_already_past_today_waits_for_tomorrow(
    pipeline, source, chat, clock
):
    from tests.conftest import paper

    clock.set(utc(2026, 11, 30, 8))
    await chat.command(CH, "subscribe diffusion")
    source.papers = [paper(1, "Diffusion one")]
    await pipeline.poll("list", force=True)
    scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1))
    clock.set(utc(2026, 11, 30, 9, 0, 30))
    assert [r.papers for r in await scheduler.sweep()] == [1]
    clock.set(utc(2026, 11, 30, 9, 30))
    source.papers = [paper(1, "Diffusion one"), paper(2, "Diffusion two")]
    await pipeline.poll("list", force=True)
    await chat.command(CH, "schedule 09:15")  # already past today
    assert await scheduler.sweep() == []  # not a second digest today
    clock.set(utc(2026, 12, 1, 9, 15, 30))
    assert [r.papers for r in await scheduler.sweep()] == [1]
    assert chat.posted_ids() == ["arxiv:2611.00001", "arxiv:2611.00002"]
