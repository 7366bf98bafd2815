"""Hugging Face Daily Papers: recorded lists, polls with validators, trending, bad input."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import pytest

from adapters.sources.http import PoliteClient
from adapters.sources.huggingface import HuggingFaceSource, parse_daily_papers
from adapters.sources.sanitize import MAX_ABSTRACT, MAX_AUTHORS, MAX_TITLE, MalformedResponse
from bot.ports import SourceError
from tests.source_fakes import FakeTime, FakeWeb, conditional, fixture, ok

BASE = "https://hf.example/api"
TODAY = f"{BASE}/daily_papers?date=2026-03-06"
YESTERDAY = f"{BASE}/daily_papers?date=2026-03-05"


def source(web: FakeWeb) -> HuggingFaceSource:
    http = PoliteClient(
        "huggingface",
        transport=web.transport,
        clock=web.time.clock,
        sleep=web.time.sleep,
        jitter=lambda: 0.0,
    )
    return HuggingFaceSource(BASE, http=http, clock=web.time.clock)


def test_the_documented_entry_maps_every_field() -> None:
    entry = json.loads(fixture("hf_daily_papers_2026-03-06.json"))[0]
    (paper,) = parse_daily_papers(json.dumps([entry]).encode()).papers
    assert paper.id == "arxiv:2602.23229"
    assert paper.title == "Large Multimodal Models as General In-Context Classifiers"
    assert paper.abstract.startswith("Which multimodal model should we use for classification?")
    assert paper.authors == (
        "Marco Garosi",
        "Matteo Farina",
        "Alessandro Conti",
        "Massimiliano Mancini",
        "Elisa Ricci",
    )
    assert paper.url == "https://arxiv.org/abs/2602.23229"
    assert paper.pdf_url == "https://arxiv.org/pdf/2602.23229"
    assert paper.code_url == "https://github.com/marco-garosi/CIRCLE"
    assert paper.project_url == "https://circle-lmm.github.io/"
    assert (paper.upvotes, paper.comments) == (10, 1)
    assert paper.published == datetime(2026, 2, 26, 17, 8, 18, tzinfo=UTC)
    assert paper.ai_summary is not None and paper.ai_summary.startswith("Large Multimodal Models")
    assert "in-context learning" in paper.ai_keywords
    assert paper.sources == ("huggingface",)


async def test_a_poll_reads_today_and_yesterday_and_keeps_their_validators() -> None:
    web = FakeWeb(FakeTime(datetime(2026, 3, 6, 12, 0, tzinfo=UTC)))
    web.on(
        TODAY,
        conditional(
            fixture("hf_daily_papers_2026-03-06.json"),
            etag='W/"today-1"',
            last_modified="Fri, 06 Mar 2026 11:00:00 GMT",
            content_type="application/json",
        ),
    )
    web.on(YESTERDAY, ok(fixture("hf_daily_papers_2026-03-05.json"), "application/json"))
    hf = source(web)
    result = await hf.fetch(None, {})
    assert [p.id for p in result.papers] == [
        "arxiv:2602.23229",
        "arxiv:2202.12139",
        "arxiv:2405.13786",
        "arxiv:2005.14124",
    ]
    assert result.bad_entries == 0 and not result.not_modified
    assert result.cursor == {
        f"etag:{TODAY}": 'W/"today-1"',
        f"modified:{TODAY}": "Fri, 06 Mar 2026 11:00:00 GMT",
    }
    again = await hf.fetch(None, result.cursor)
    await hf.aclose()
    # Today's list unchanged (304), yesterday's served again without validators.
    assert web.hits[2].request.headers["If-None-Match"] == 'W/"today-1"'
    assert [p.id for p in again.papers] == ["arxiv:2005.14124"]
    assert again.cursor[f"etag:{TODAY}"] == 'W/"today-1"'
    assert not again.not_modified


async def test_after_downtime_the_missed_days_are_read_too() -> None:
    web = FakeWeb(FakeTime(datetime(2026, 3, 6, 12, 0, tzinfo=UTC)))
    for day in range(1, 7):
        web.on(f"{BASE}/daily_papers?date=2026-03-0{day}", ok(b"[]", "application/json"))
    hf = source(web)
    await hf.fetch(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), {})  # the last success, 4 days ago
    assert [u.rsplit("=", 1)[1] for u in web.urls()] == [
        "2026-03-06",
        "2026-03-05",
        "2026-03-04",
        "2026-03-03",
        "2026-03-02",
    ]
    web.hits.clear()
    await hf.fetch(datetime(2026, 1, 1, tzinfo=UTC), {})  # weeks ago: the last 7 days only
    await hf.aclose()
    assert len(web.urls()) == 7


async def test_not_modified_when_every_list_answers_304() -> None:
    web = FakeWeb(FakeTime())
    for url in (TODAY, YESTERDAY):
        web.on(url, conditional(b"[]", etag='"e"', last_modified="Thu, 05 Mar 2026 00:00:00 GMT"))
    hf = source(web)
    first = await hf.fetch(None, {})
    second = await hf.fetch(None, first.cursor)
    assert not first.not_modified
    assert second.not_modified and second.papers == [] and second.bad_entries == 0


async def test_trending_sorts_the_day_by_upvotes() -> None:
    web = FakeWeb(FakeTime())
    web.on(TODAY, ok(fixture("hf_daily_papers_2026-03-06.json"), "application/json"))
    web.on(YESTERDAY, ok(fixture("hf_daily_papers_2026-03-05.json"), "application/json"))
    hf = source(web)
    today = await hf.trending()
    yesterday = await hf.trending(date(2026, 3, 5))
    assert [(p.id, p.upvotes) for p in today] == [
        ("arxiv:2202.12139", 25),
        ("arxiv:2602.23229", 10),
        ("arxiv:2405.13786", 3),
    ]
    assert [p.id for p in yesterday] == ["arxiv:2005.14124"]


async def test_trending_on_a_failing_api_is_a_source_error() -> None:
    web = FakeWeb(FakeTime())
    web.on(TODAY, ok(b"<html>maintenance</html>", "text/html"))
    with pytest.raises(SourceError, match=r"huggingface: GET .* unusable response: not JSON"):
        await source(web).trending()


def test_bad_entries_are_dropped_counted_and_the_good_kept() -> None:
    parsed = parse_daily_papers(fixture("hf_daily_papers_bad_entries.json"))
    ids = [p.id for p in parsed.papers]
    assert ids == ["arxiv:2602.23229", "arxiv:2405.13786", "arxiv:2203.01250"]
    assert parsed.bad == 7
    assert parsed.problems == (
        "entry 1: expected an object, got str",
        "entry 2: no 'paper' object",
        "entry 3: no paper id",
        "entry 4: arxiv:2603.00001: no title",
        "entry 5: paper id '../../etc/passwd' is neither an arXiv id nor a page name",
        "entry 7: arxiv:2603.00002: no title",
        "entry 8: arxiv:2602.23229 appears twice; kept the first",
    )


def test_wrong_types_in_optional_fields_are_ignored_not_fatal() -> None:
    parsed = parse_daily_papers(fixture("hf_daily_papers_bad_entries.json"))
    paper = next(p for p in parsed.papers if p.id == "arxiv:2405.13786")
    assert paper.upvotes is None and paper.comments is None
    assert paper.code_url is None  # javascript: is not a link anyone should get


def test_html_in_titles_and_abstracts_is_stored_as_plain_text() -> None:
    parsed = parse_daily_papers(fixture("hf_daily_papers_bad_entries.json"))
    paper = next(p for p in parsed.papers if p.id == "arxiv:2203.01250")
    assert (
        paper.title == "Mass concentration in rescaled first order integral functionals & H-masses"
    )
    assert paper.abstract == (
        "We consider first order local minimization problems of the form "
        "$\\min \\int f(u,\\nabla u)$ for $N<k$ and $m>0$. "
        "Our result yields the concentration of Cahn–Hilliard fluids into droplets."
    )


def test_huge_fields_are_capped() -> None:
    entry = {
        "paper": {
            "id": "2603.01234",
            "title": "T" * 5000,
            "summary": "word " * 10_000,
            "authors": [{"name": f"Author {i}"} for i in range(500)],
            "ai_keywords": ["k"] * 10 + [f"kw{i}" for i in range(200)],
        }
    }
    (paper,) = parse_daily_papers(json.dumps([entry]).encode()).papers
    assert len(paper.title) == MAX_TITLE and paper.title.endswith("…")
    assert len(paper.abstract) <= MAX_ABSTRACT and paper.abstract.endswith("…")
    assert len(paper.authors) == MAX_AUTHORS and paper.authors[-1] == "Author 99"
    assert len(paper.ai_keywords) == 50 and paper.ai_keywords[0] == "k"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": "Invalid date"}', "expected a JSON list of papers, got dict"),
        (b"[{]", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
    ],
)
def test_a_response_of_the_wrong_shape_is_refused_whole(body: bytes, message: str) -> None:
    with pytest.raises(MalformedResponse, match=message):
        parse_daily_papers(body)


async def test_a_garbage_list_among_good_ones_is_counted_and_the_poll_goes_on() -> None:
    web = FakeWeb(FakeTime())
    web.on(TODAY, ok(fixture("html_error_page.html"), "text/html"))
    web.on(YESTERDAY, ok(fixture("hf_daily_papers_2026-03-05.json"), "application/json"))
    result = await source(web).fetch(None, {})
    assert [p.id for p in result.papers] == ["arxiv:2005.14124"]
    assert result.bad_entries == 1
    assert f"etag:{TODAY}" not in result.cursor


async def test_a_poll_where_every_request_fails_is_a_source_error_naming_url_and_status() -> None:
    web = FakeWeb(FakeTime())
    web.on(TODAY, httpx.Response(503))
    web.on(YESTERDAY, httpx.Response(403))
    with pytest.raises(SourceError) as caught:
        await source(web).fetch(None, {})
    message = str(caught.value)
    assert f"huggingface: GET {TODAY} failed: HTTP 503 after 4 attempts" in message
    assert f"huggingface: GET {YESTERDAY} failed: HTTP 403" in message
