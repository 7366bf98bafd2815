"""Each feed's health: a failing feed shows in `status`, and after a day of failing posts one
notice per failure episode into the channels that opted in."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from adapters.sources.registry import build_sources
from bot.commands.handler import CommandHandler
from bot.delivery.pipeline import Pipeline
from bot.models import ChannelRef, Schedule
from config.settings import load_settings
from tests.fakes import FakeChat
from tests.source_fakes import FakeTime, FakeWeb, fixture, ok

GOOD = "https://journal.example.org/rss/latest.xml"
GONE = "https://gone.example.org/feed.xml"
ON = ChannelRef.parse("console:local:opted-in")
OFF = ChannelRef.parse("console:local:quiet")


async def no_sleep(seconds: float) -> None:
    """Spacing is not under test here."""


def feed_pipeline(stores, clock, web: FakeWeb, urls: list[str]) -> tuple[Pipeline, FakeChat]:
    settings = load_settings(_env_file=None, sources=["feed"], feeds=urls)
    sources = {
        s.name: s
        for s in build_sources(settings, transport=web.transport, clock=clock, sleep=no_sleep)
    }
    chat = FakeChat()
    return Pipeline(stores, sources, {"console": chat}, clock), chat


def notices(chat: FakeChat, ref: ChannelRef) -> list[str]:
    return [p.page.title for p in chat.posts if p.channel == ref and not p.page.items]


async def test_a_404_feed_among_good_ones_is_failing_per_url(stores, clock):
    web = FakeWeb(FakeTime())
    web.on(GOOD, ok(fixture("feed_journal_rss2.xml"), "application/rss+xml"))
    web.on(GONE, httpx.Response(404, text="not here"))
    pipe, _ = feed_pipeline(stores, clock, web, [GOOD, GONE])
    report = await pipe.poll("feed", force=True)
    assert report.error is None and report.new  # the good feed's papers are stored
    health = {h.url: h for h in await stores.urls.all()}
    assert health[GOOD].failing_since is None and health[GOOD].last_success_at == clock()
    assert health[GONE].failing_since == clock() and health[GONE].failures == 1
    assert "404" in (health[GONE].last_error or "")
    assert health[GONE].last_success_at is None
    await pipe.sources["feed"].aclose()


async def test_one_notice_per_failure_episode_to_opted_in_channels_only(stores, clock):
    web = FakeWeb(FakeTime())
    web.on(GONE, httpx.Response(404, text="not here"))
    pipe, chat = feed_pipeline(stores, clock, web, [GONE])
    await chat.start(CommandHandler(pipe, Schedule()))
    for ref in (ON, OFF):
        await chat.command(ref, "subscribe diffusion")
    reply = await chat.command(ON, "settings notices=on")
    assert "notices=on" in reply.text
    assert "notices=off" in (await chat.command(OFF, "list")).text
    start = clock()

    for hours in (0, 2, 12, 23):  # failing, but not yet for a day
        clock.set(start + timedelta(hours=hours))
        assert (await pipe.poll("feed", force=True)).error
    assert chat.posts == []
    for hours in (24, 25, 30):  # a day: one notice, however many polls fail after
        clock.set(start + timedelta(hours=hours))
        await pipe.poll("feed", force=True)
    assert len(notices(chat, ON)) == 1 and notices(chat, OFF) == []
    assert GONE in notices(chat, ON)[0] and "failing since" in notices(chat, ON)[0]

    # It answers again (the episode ends), then fails for a day again: a second notice.
    web.routes[GONE] = [ok(fixture("feed_journal_rss2.xml"), "application/rss+xml")]
    clock.set(start + timedelta(hours=31))
    assert (await pipe.poll("feed", force=True)).error is None
    web.routes[GONE] = [httpx.Response(503, text="down")]
    for hours in (32, 50, 57):
        clock.set(start + timedelta(hours=hours))
        await pipe.poll("feed", force=True)
    assert len(notices(chat, ON)) == 2 and notices(chat, OFF) == []
    await pipe.sources["feed"].aclose()


async def test_notices_setting_is_checked(pipeline, chat):
    ref = ChannelRef.parse("console:local:general")
    reply = await chat.command(ref, "settings notices=maybe")
    assert reply.error and "notices must be on or off" in reply.text
    assert "notices=off" in (await chat.command(ref, "settings")).text


def test_status_shows_each_feed_with_health_and_the_database(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from entry.cli import cli
    from storage import build_stores
    from storage.db import open_database
    from tests.fakes import FakeClock

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    async def poll_once() -> None:
        engine = await open_database(url)
        web = FakeWeb(FakeTime())
        web.on(GOOD, ok(fixture("feed_journal_rss2.xml"), "application/rss+xml"))
        web.on(GONE, httpx.Response(404, text="not here"))
        pipe, _ = feed_pipeline(build_stores(engine), FakeClock(), web, [GOOD, GONE])
        await pipe.poll("feed", force=True)
        await pipe.sources["feed"].aclose()
        await engine.dispose()

    asyncio.run(poll_once())
    monkeypatch.setenv("PAPERBOT_DATABASE_URL", url)
    monkeypatch.setenv("PAPERBOT_SOURCES", "feed")
    monkeypatch.setenv("PAPERBOT_FEEDS", f"{GOOD},{GONE}")
    monkeypatch.setenv("COLUMNS", "200")
    r = CliRunner().invoke(cli, ["status"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "database size: " in r.output and " kB" in r.output
    assert "oldest paper: doi:10.5555/emp.2026.0311, first seen 2026-11-30 08:00 UTC" in r.output
    assert "retention: 180 days, pruned daily; 0 pruned papers remembered by id" in r.output
    assert "degraded: 1 of 2 feeds failing" in r.output  # the source as a whole is not "ok"
    rows = {line.split("│")[1].strip(): line for line in r.output.splitlines() if "│ http" in line}
    assert "ok" in rows[GOOD] and "2026-11-30 08:00 UTC" in rows[GOOD]
    assert "failing since 2026-11-30 08:00 UTC (1 poll in a row)" in rows[GONE]
    assert "404" in rows[GONE] and "next poll" in rows[GONE]
