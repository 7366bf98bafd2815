"""Retention: old papers no channel keeps are pruned in batches, and never announced again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.sources.registry import build_sources
from bot.commands.handler import CommandHandler
from bot.delivery.pipeline import Pipeline
from bot.delivery.retention import prune
from bot.models import ChannelRef, Schedule
from bot.stores import LedgerPage
from config.settings import SettingsError, load_settings
from tests.conftest import paper
from tests.fakes import FakeChat
from tests.source_fakes import FakeTime, FakeWeb, fixture, ok

CH = ChannelRef.parse("console:local:general")
FEED = "https://journal.example.org/rss/latest.xml"
DAYS = timedelta(days=180)


async def no_sleep(seconds: float) -> None:
    """Spacing and pauses are not under test here."""


async def test_a_source_serving_a_pruned_item_again_never_announces_it(stores, clock):
    web = FakeWeb(FakeTime())
    web.on(FEED, ok(fixture("feed_journal_rss2.xml"), "application/rss+xml"))
    settings = load_settings(_env_file=None, sources=["feed"], feeds=[FEED])
    sources = {
        s.name: s
        for s in build_sources(settings, transport=web.transport, clock=clock, sleep=no_sleep)
    }
    chat = FakeChat()
    pipe = Pipeline(stores, sources, {"console": chat}, clock)
    await chat.start(CommandHandler(pipe, Schedule()))
    try:
        await chat.command(CH, "subscribe training-free")
        first = await pipe.poll("feed", force=True)
        assert first.new
        await pipe.run_digest(CH)
        posted = chat.posted_ids(CH)
        assert posted and set(posted) <= {p.id for p in first.new}

        clock.advance(days=200)
        report = await prune(stores.retention, DAYS, clock, sleep=no_sleep)
        assert report.papers == len(first.new) and report.ledger_rows == len(posted)
        assert await stores.papers.count() == 0  # the papers and their ledger rows are gone
        assert not await stores.deliveries.delivered_ids(CH, posted)

        again = await pipe.poll("feed", force=True)  # the feed still lists the same items
        assert again.error is None and again.new == []
        assert await stores.papers.count() == 0
        clock.advance(hours=1)
        await pipe.run_digest(CH)
        assert chat.posted_ids(CH) == posted  # nothing posted a second time
    finally:
        for source in sources.values():
            await source.aclose()


async def test_prune_keeps_young_papers_and_those_still_being_delivered(stores, clock):
    start = clock()
    await stores.papers.upsert([paper(1, "old, posted"), paper(2, "old, pending")], start)
    clock.advance(days=100)
    await stores.papers.upsert([paper(3, "young")], clock())
    await stores.channels.ensure(CH, Schedule(), start)
    sent = LedgerPage("d1", ("arxiv:2611.00001",), state="sending")
    waiting = LedgerPage("d2", ("arxiv:2611.00002",))
    await stores.deliveries.record(CH, [sent, waiting], start, start)
    await stores.deliveries.mark_sent("d1", "m1", start)
    clock.advance(days=100)  # papers 1 and 2 are 200 days old, paper 3 is 100

    dry = await prune(stores.retention, DAYS, clock, dry_run=True)
    assert (dry.papers, dry.ledger_rows, dry.kept) == (1, 1, 1)
    assert await stores.papers.count() == 3  # a dry run deletes nothing

    done = await prune(stores.retention, DAYS, clock, sleep=no_sleep)
    assert (done.papers, done.ledger_rows) == (1, 1)
    left = await stores.papers.get_many(
        ["arxiv:2611.00001", "arxiv:2611.00002", "arxiv:2611.00003"]
    )
    assert sorted(left) == ["arxiv:2611.00002", "arxiv:2611.00003"]
    assert [p.paper_ids for p in await stores.deliveries.open_pages(CH)] == [("arxiv:2611.00002",)]
    foot = await stores.retention.footprint()
    assert foot.traces == 1 and foot.oldest_id == "arxiv:2611.00002"
    assert foot.size_bytes and foot.size_bytes > 0


async def test_prune_of_n_papers_goes_in_batches_of_k_with_a_pause_between(stores, clock):
    await stores.papers.upsert([paper(i, f"paper {i}") for i in range(7)], clock())
    clock.advance(days=181)
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    report = await prune(stores.retention, DAYS, clock, batch=3, pause=0.5, sleep=sleep)
    assert (report.papers, report.batches) == (7, 3)  # 3 + 3 + 1
    assert pauses == [0.5, 0.5]
    assert await stores.papers.count() == 0
    assert (await stores.retention.footprint()).traces == 7


def test_retention_setting_off_or_days_and_zero_refused():
    assert load_settings(_env_file=None).retention_days == 180
    assert load_settings(_env_file=None, retention_days="off").retention_days is None
    assert load_settings(_env_file=None, retention_days="30").retention_days == 30
    for bad in ("0", "-5"):
        with pytest.raises(SettingsError) as err:
            load_settings(_env_file=None, retention_days=bad)
        assert str(err.value).startswith("PAPERBOT_RETENTION_DAYS: keep papers at least 1 day")


def test_prune_command_dry_run_then_prune(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from entry.cli import cli

    monkeypatch.setenv("PAPERBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PAPERBOT_SOURCES", "sample")
    monkeypatch.setenv("PAPERBOT_RETENTION_DAYS", "1")
    runner = CliRunner()
    assert runner.invoke(cli, ["poll"]).exit_code == 0
    r = runner.invoke(cli, ["prune", "--dry-run"])
    assert r.exit_code == 0 and "Would prune 0 papers" in r.output  # all seen just now
    monkeypatch.setenv("PAPERBOT_RETENTION_DAYS", "off")
    r = runner.invoke(cli, ["prune"])
    assert r.exit_code == 2 and "PAPERBOT_RETENTION_DAYS is off" in r.output


class RecordingTimer:
    """A Timer that only records what it was asked to run, and when."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[timedelta, object]] = {}
        self.running = False

    def every(self, job_id, interval, job, *args, first_at=None, catch_up=False):  # type: ignore[no-untyped-def]
        self.jobs[job_id] = (interval, first_at)

    def at(self, job_id, when, weekdays, timezone, job, *args):  # type: ignore[no-untyped-def]
        self.jobs[job_id] = (timedelta(days=1), None)

    def has(self, job_id: str) -> bool:
        return job_id in self.jobs

    def remove(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)

    def start(self) -> None:
        self.running = True

    def pause(self) -> None:
        pass

    def shutdown(self) -> None:
        self.running = False


async def test_the_bot_prunes_daily_when_retention_is_set(pipeline, stores, clock):
    from bot.delivery.scheduler import Scheduler

    await stores.papers.upsert([paper(1, "old"), paper(2, "old too")], clock())
    timer = RecordingTimer()
    scheduler = Scheduler(pipeline, timer, poll_interval=timedelta(hours=1), retention=DAYS)
    await scheduler.start()
    interval, first_at = timer.jobs["prune"]
    assert interval == timedelta(days=1) and first_at == clock() + timedelta(minutes=10)
    clock.advance(days=181)
    report = await scheduler.prune()
    assert report is not None and report.papers == 2
    assert await stores.papers.count() == 0

    kept = Scheduler(pipeline, RecordingTimer(), poll_interval=timedelta(hours=1))
    await kept.start()
    assert not kept.timer.has("prune") and await kept.prune() is None
