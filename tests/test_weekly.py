"""Weekly schedules and day lists: what users type, when they fire across DST, the week's window."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from adapters.discord.render import header_text
from adapters.scheduling.timer import ApsTimer
from adapters.slack.render import render_digest
from bot.delivery.scheduler import Scheduler
from bot.delivery.schedules import (
    ScheduleError,
    cron_days,
    fire_times,
    first_window,
    next_slot,
    parse_schedule,
    previous_slot,
    zone,
)
from bot.models import ChannelRef, Days, Digest, Schedule
from tests.conftest import paper

CH = ChannelRef.parse("console:local:weekly")
MON, THU = 0, 3


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(at: time, tz: str, *days: int) -> Schedule:
    return Schedule(at, tz, Days.WEEKLY, frozenset(days))


@pytest.mark.parametrize(
    ("typed", "described"),
    [
        ("09:00 Europe/Berlin weekly mon", "09:00 Europe/Berlin weekly mon"),
        ("09:00 weekly Friday", "09:00 UTC weekly fri"),
        ("9:30 weekly SUN Asia/Tokyo", "09:30 Asia/Tokyo weekly sun"),
        ("09:00 mon,thu", "09:00 UTC mon,thu"),
        ("09:00 Europe/Berlin thursday,monday", "09:00 Europe/Berlin mon,thu"),
        ("09:00 weekly tue,fri", "09:00 UTC tue,fri"),
        ("08:00 mon-wed", "08:00 UTC mon,tue,wed"),
        ("08:00 mon,tue,wed,thu,fri", "08:00 UTC weekdays"),  # the same days, the usual name
        ("08:00 mon-sun", "08:00 UTC daily"),
    ],
)
def test_weekly_and_day_lists_parse_and_describe(typed: str, described: str) -> None:
    assert parse_schedule(typed, Schedule()).describe() == described


def test_a_new_time_keeps_the_chosen_days_and_off_forgets_them() -> None:
    current = parse_schedule("09:00 Europe/Berlin mon,thu", Schedule())
    assert parse_schedule("18:00", current).describe() == "18:00 Europe/Berlin mon,thu"
    off = parse_schedule("off", current)
    assert off.describe() == "off" and off.on == frozenset()
    assert parse_schedule("18:00", off).describe() == "18:00 Europe/Berlin daily"


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("09:00 weekly mnday", "'mnday' is not a day of the week (did you mean mon?)"),
        ("09:00 mon,thrusday", "'thrusday' is not a day of the week (did you mean thu?)"),
        ("09:00 mon,funday", "'funday' is not a day of the week"),
        ("09:00 weekly", "Say which day a weekly digest goes out"),
        ("09:00 weekly Europe/Berlin", "Say which day a weekly digest goes out"),
        ("09:00 weekly mon weekdays", "Give the days once"),
        ("09:00 mon tue", "Give the days once"),
        ("09:00 UTC weekends", "'weekends' is not a choice of days: digests go out daily, weekd"),
        ("09:00 UTC Europe/Berlin mon", "Too many words"),
    ],
)
def test_bad_day_words_get_one_clear_error(typed: str, error: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(typed, Schedule())
    assert error in str(raised.value)


def test_weekly_slots_follow_the_local_clock_across_dst() -> None:
    berlin = weekly(time(9, 0), "Europe/Berlin", MON)
    slots = fire_times(berlin, utc(2026, 3, 16), utc(2026, 4, 5))
    assert slots == [utc(2026, 3, 16, 8), utc(2026, 3, 23, 8), utc(2026, 3, 30, 7)]  # CET, CEST
    assert all(
        s.astimezone(zone("Europe/Berlin")).strftime("%a %H:%M") == "Mon 09:00" for s in slots
    )
    # The autumn change: 26 Oct is the first Monday on CET again.
    assert fire_times(berlin, utc(2026, 10, 19), utc(2026, 10, 27)) == [
        utc(2026, 10, 19, 7),
        utc(2026, 10, 26, 8),
    ]


def test_a_weekly_slot_in_the_spring_gap_or_the_repeated_hour() -> None:
    # Berlin changes its clocks on Sundays: 29 Mar 02:00 -> 03:00, 25 Oct 03:00 -> 02:00.
    spring = weekly(time(2, 30), "Europe/Berlin", 6)
    [slot] = fire_times(spring, utc(2026, 3, 28), utc(2026, 3, 30))
    assert slot.astimezone(zone("Europe/Berlin")).strftime("%a %H:%M") == "Sun 03:30"
    autumn = weekly(time(2, 30), "Europe/Berlin", 6)
    assert fire_times(autumn, utc(2026, 10, 24), utc(2026, 10, 26)) == [utc(2026, 10, 25, 0, 30)]


def test_next_and_previous_slot_of_a_day_list() -> None:
    ny = weekly(time(7, 0), "America/New_York", MON, THU)
    tuesday = utc(2026, 11, 3, 15)  # the US fell back on Sunday 1 Nov
    assert next_slot(ny, tuesday) == utc(2026, 11, 5, 12)  # Thu 07:00 EST
    assert previous_slot(ny, tuesday) == utc(2026, 11, 2, 12)  # Mon 07:00 EST
    once = weekly(time(7, 0), "America/New_York", THU)
    assert previous_slot(once, utc(2026, 11, 4, 15)) == utc(2026, 10, 29, 11)  # last week, EDT
    assert cron_days(ny) == "mon,thu" and cron_days(once) == "thu"
    assert cron_days(Schedule(days=Days.WEEKDAYS)) == "mon-fri" and cron_days(Schedule()) == "*"


def test_first_window_is_the_week_or_the_longest_gap() -> None:
    assert first_window(Schedule()) == timedelta(hours=24)
    assert first_window(Schedule(days=Days.WEEKDAYS)) == timedelta(hours=24)
    assert first_window(weekly(time(9), "UTC", MON)) == timedelta(days=7)
    assert first_window(weekly(time(9), "UTC", MON, THU)) == timedelta(days=4)  # Thu -> Mon


async def test_the_timer_fires_on_the_chosen_days_at_local_time(pipeline, chat, clock, stores):  # type: ignore[no-untyped-def]
    scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1))
    chat.handler.on_channel_change = scheduler.on_channel_change
    clock.set(utc(2026, 3, 24, 12))  # a Tuesday
    await chat.command(CH, "subscribe diffusion")
    reply = await chat.command(CH, "schedule 09:00 Europe/Berlin mon,thu")
    assert "09:00 Europe/Berlin mon,thu" in reply.text
    job = scheduler.timer.aps.get_job(f"digest:{CH}")
    assert job is not None and "day_of_week='mon,thu'" in str(job.trigger)
    fires, after = [], clock()
    for _ in range(3):
        after = job.trigger.get_next_fire_time(None, after + timedelta(seconds=1))
        fires.append(after.astimezone(UTC))
    assert fires == [utc(2026, 3, 26, 8), utc(2026, 3, 30, 7), utc(2026, 4, 2, 7)]  # DST on 29th
    channel = await stores.channels.get(CH)
    assert channel.schedule.describe() == "09:00 Europe/Berlin mon,thu"  # stored and read back
    assert scheduler.next_run(channel) == utc(2026, 3, 26, 8)


async def test_every_day_list_is_stored_and_read_back(pipeline, chat, stores):  # type: ignore[no-untyped-def]
    await chat.command(
        CH, "schedule 06:45 America/Argentina/ComodRivadavia mon,tue,wed,thu,fri,sat"
    )
    channel = await stores.channels.get(CH)
    assert channel.schedule.on == frozenset(range(6)) and channel.schedule.days is Days.WEEKLY
    await chat.command(CH, "schedule 06:45 weekly sun")
    assert (await stores.channels.get(CH)).schedule.describe().endswith("weekly sun")


async def test_a_weekly_digest_covers_the_week(pipeline, source, chat, clock, stores):  # type: ignore[no-untyped-def]
    source.papers = [paper(1, "Diffusion one", upvotes=1)]
    clock.set(utc(2026, 11, 24, 10))  # Tuesday: six days before the Monday slot
    await pipeline.poll("list", force=True)
    clock.set(utc(2026, 11, 27, 10))
    source.papers = [paper(2, "Diffusion two", upvotes=2), paper(3, "Diffusion three", upvotes=3)]
    await pipeline.poll("list", force=True)
    await chat.command(CH, "subscribe diffusion")
    await chat.command(CH, "schedule 09:00 Europe/Berlin weekly mon")
    await chat.command(CH, "settings max=2")
    scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1))

    clock.set(utc(2026, 11, 30, 8, 0, 30))  # Monday 09:00:30 in Berlin
    [report] = await scheduler.sweep()

    assert report.papers == 2 and report.more == 1  # all three of the week; a daily one: two
    [post] = chat.posts
    assert post.page.period == "this week" and post.page.title.startswith("New papers this week")
    assert await scheduler.sweep() == []  # nothing owed until next Monday
    clock.set(utc(2026, 12, 6, 12))
    assert await scheduler.sweep() == []
    clock.set(utc(2026, 12, 7, 8, 1))
    assert [r.posted for r in await scheduler.sweep()] == [0]  # due, but nothing new


def test_the_and_n_more_line_says_it_covers_the_week() -> None:
    page = Digest(channel=CH, items=(), more=4, title="New papers this week", period="this week")
    slack = render_digest(page)
    assert "…and 4 more papers this week." in slack.blocks[-1]["elements"][0]["text"]
    assert "and 4 more papers this week" in slack.text
    assert "and 4 more this week — find them" in (header_text(page) or "")
    daily = render_digest(Digest(channel=CH, items=(), more=4))
    assert "…and 4 more papers. " in daily.blocks[-1]["elements"][0]["text"]
