"""Issue 20's numbered cases, read from the tests/hostile/ corpus: hostile input costs only itself."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from adapters.sources.arxiv_parse import parse_api_feed
from adapters.sources.feed import parse_feed
from adapters.sources.huggingface import HuggingFaceSource, parse_daily_papers
from adapters.sources.sanitize import MalformedResponse, Parsed
from bot.delivery.pipeline import Pipeline
from bot.delivery.schedules import ScheduleError, zone
from bot.models import ChannelRef, Command
from bot.ports import SourceError
from config.settings import Settings
from tests.source_fakes import FakeTime, FakeWeb, ok
from tests.test_sources_http import client

HOSTILE = Path(__file__).parent / "hostile"
FIXTURES = Path(__file__).parent / "fixtures"
COMMANDS = json.loads((HOSTILE / "commands.json").read_text())
SOURCES = json.loads((HOSTILE / "sources.json").read_text())["cases"]
NEW = ChannelRef.parse("console:local:brand-new")
GENERIC = "Something went wrong"
FEED_URL = "https://journal.example.org/rss/latest.xml"

PARSERS: dict[str, Callable[[bytes], Parsed]] = {
    "huggingface": parse_daily_papers,
    "feed": lambda data: parse_feed(data, FEED_URL),
    "arxiv_api": lambda data: parse_api_feed(data).parsed,
}


def _text(case: dict[str, object]) -> str:
    return (
        str(case["text"])
        + str(case.get("then", "")) * int(case.get("times", 0))
        + str(case.get("end", ""))
    )  # type: ignore[call-overload]


# --- cases 4, 5, 6, 8: hostile command texts ----------------------------------------------------


@pytest.mark.parametrize(
    "case", COMMANDS["commands"], ids=lambda c: f"case{c['case']}:{c['text'][:30]!r}"
)
async def test_a_hostile_command_gets_one_short_clear_error_and_changes_nothing(
    pipeline: Pipeline, chat, stores, case
) -> None:  # type: ignore[no-untyped-def]
    reply = await chat.command(NEW, _text(case))
    assert reply.error, reply.text
    assert GENERIC not in reply.text
    for part in case["contains"]:
        assert part in reply.text, reply.text
    assert len(reply.text) <= COMMANDS["max_reply"], reply.text
    reply.text.encode("utf-8")  # the reply itself can be sent
    assert await stores.channels.all() == []  # case 6: not even the channel row


async def test_a_refused_command_in_a_known_channel_keeps_its_state(pipeline, chat, stores):  # type: ignore[no-untyped-def]
    await chat.command(NEW, "schedule 07:30 Europe/Berlin weekdays")
    before = await stores.channels.all()
    for text in ("schedule 99:99", "settings max=0", "schedule 09:00 America/Argentina"):
        assert (await chat.command(NEW, text)).error
    assert await stores.channels.all() == before


def test_zone_names_are_only_those_of_the_zone_database() -> None:
    for name in ("America/Argentina", "America/Indiana", "Europe/" + "a" * 300, "../etc"):
        with pytest.raises(ScheduleError, match="unknown time zone"):
            zone(name)
    assert zone("america/argentina/salta").key == "America/Argentina/Salta"
    with pytest.raises(ValueError, match="unknown time zone 'America/Argentina'"):
        Settings(_env_file=None, default_timezone="America/Argentina")


def test_the_cli_cleans_argv_before_the_command_layer_sees_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from entry.cli import cli

    env = {"PAPERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    result = CliRunner().invoke(
        cli, ["command", "--channel", "console:local:x", "subscribe diffusion\udcff"], env=env
    )
    assert result.exit_code == 1, result.output
    assert "could not be read at column 20" in result.output
    assert "Traceback" not in result.output and GENERIC not in result.output


# --- cases 1, 2, 3: hostile source bodies ------------------------------------------------------


@pytest.mark.parametrize(
    "case", [c for c in SOURCES if "parse" in c], ids=lambda c: f"case{c['case']}:{c['file']}"
)
def test_a_hostile_body_costs_at_most_its_bad_part(case, caplog) -> None:  # type: ignore[no-untyped-def]
    parse = PARSERS[case["parse"]]
    data = (HOSTILE / case["file"]).read_bytes()
    with caplog.at_level(logging.ERROR):
        if "malformed" in case:
            with pytest.raises(MalformedResponse, match=case["malformed"]):
                parse(data)
            return
        parsed = parse(data)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    expected = (
        len(parse((FIXTURES / case["same_as"]).read_bytes()).papers)
        if "same_as" in case
        else case["papers"]
    )
    assert len(parsed.papers) == expected
    if "title" in case:
        assert case["title"] in [p.title for p in parsed.papers]
    for paper in parsed.papers:  # nothing inside can meet an unencodable string
        json.dumps(paper.title, ensure_ascii=False).encode("utf-8")
        paper.abstract.encode("utf-8")


@pytest.mark.parametrize(
    "case", [c for c in SOURCES if "encoding" in c], ids=lambda c: f"case{c['case']}:{c['file']}"
)
async def test_a_body_compressed_in_layers_is_refused_at_the_cap_while_decoding(case) -> None:  # type: ignore[no-untyped-def]
    body = (HOSTILE / case["file"]).read_bytes()
    web = FakeWeb(FakeTime())
    # A stream, not content=: httpx would inflate a whole content before our client saw it.
    web.on(
        "https://x.example/p",
        httpx.Response(
            200, stream=httpx.ByteStream(body), headers={"Content-Encoding": case["encoding"]}
        ),
    )
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match=case["refused"]):
            await client(web).get("https://x.example/p")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * 33554432  # never more than the cap per layer (main reached the 64 MiB)


# --- case 1, in the pipeline: a poll stores what it can, and a store failure is backed off ------


async def test_one_bad_hugging_face_entry_costs_only_itself_in_a_poll(stores, clock) -> None:  # type: ignore[no-untyped-def]
    web = FakeWeb(FakeTime(clock()))
    body = (HOSTILE / "hf_lone_surrogate.json").read_bytes()
    for url in ("2026-11-30", "2026-11-29"):
        web.on(f"https://hf.example/api/daily_papers?date={url}", ok(body, "application/json"))
    source = HuggingFaceSource("https://hf.example/api", http=client(web), clock=clock)
    pipe = Pipeline(stores, {"huggingface": source}, {}, clock)

    report = await pipe.poll("huggingface", force=True)

    assert report.error is None
    assert len(report.new) == 5
    assert await stores.papers.count() == 5
    state = await stores.sources.get("huggingface")
    assert state.last_success_at == clock() and state.failures == 0


class FailingPapers:
    """A paper store whose database refuses every write."""

    def __init__(self, inner, fail: Callable[[list], bool]) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.fail = fail

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    async def upsert(self, sightings, now, *, insert_new=True):  # type: ignore[no-untyped-def]
        sightings = list(sightings)
        if self.fail(sightings):
            raise OSError("disk I/O error")
        return await self.inner.upsert(sightings, now, insert_new=insert_new)


async def test_a_store_failure_is_a_source_failure_with_backoff(stores, clock, source) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import paper

    source.papers = [paper(1, "One"), paper(2, "Two")]
    broken = replace(stores, papers=FailingPapers(stores.papers, lambda s: bool(s)))
    pipe = Pipeline(broken, {"list": source}, {}, clock)

    report = await pipe.poll("list")  # as the scheduler polls: never raises

    assert report.error and "storing its papers failed: OSError: disk I/O error" in report.error
    state = await stores.sources.get("list")
    assert state.failures == 1 and state.last_error == report.error
    assert state.next_poll_at == clock() + pipe.poll_interval  # backed off
    assert (await pipe.poll("list")).skipped


async def test_a_paper_the_store_refuses_is_dropped_and_the_rest_stored(
    stores, clock, source, caplog
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import paper

    source.papers = [paper(1, "One"), paper(2, "Refused"), paper(3, "Three")]
    picky = FailingPapers(stores.papers, lambda s: any(p.title == "Refused" for p in s))
    pipe = Pipeline(replace(stores, papers=picky), {"list": source}, {}, clock)

    with caplog.at_level(logging.WARNING):
        report = await pipe.poll("list", force=True)

    assert report.error is None and report.bad_entries == 1
    assert sorted(p.id for p in report.new) == ["arxiv:2611.00001", "arxiv:2611.00003"]
    assert "source list: dropped arxiv:2611.00002: the store refused it" in caplog.text
    assert (await stores.sources.get("list")).bad_entries == 1


def _unused(command: Command) -> None:  # keeps the import honest for type checkers
    del command
