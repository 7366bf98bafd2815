"""arXiv: the RSS listing, the API paged back in time, lookups, the 3-second gate, bad input."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

import httpx
import pytest

from adapters.sources.arxiv import NEWEST_KEY, ArxivSource
from adapters.sources.arxiv_parse import parse_api_feed, parse_rss_listing
from adapters.sources.http import HostGates, PoliteClient
from bot.ports import SourceError
from tests.source_fakes import FakeTime, FakeWeb, conditional, fixture, ok

RSS = "https://rss.arxiv.test/rss"
API = "https://export.arxiv.test/api/query"
LISTING = f"{RSS}/cs.CV+cs.LG"


def page_url(start: int, size: int = 3) -> str:
    return (
        f"{API}?search_query=cat:cs.CV+OR+cat:cs.LG&sortBy=submittedDate&sortOrder=descending"
        f"&start={start}&max_results={size}"
    )


def source(web: FakeWeb, mode: str = "rss", **kwargs: int) -> ArxivSource:
    http = PoliteClient(
        "arxiv",
        transport=web.transport,
        gates=HostGates(web.time.clock, web.time.sleep),
        clock=web.time.clock,
        sleep=web.time.sleep,
        jitter=lambda: 0.0,
    )
    kwargs.setdefault("page_size", 3)
    return ArxivSource(
        ["cs.CV", "cs.LG"],
        mode=mode,
        api_url=API,
        rss_url=RSS,
        http=http,
        clock=web.time.clock,
        **kwargs,
    )


def serve_pages(web: FakeWeb) -> None:
    for n in range(4):
        web.on(page_url(n * 3), ok(fixture(f"arxiv_api_page{n}.atom"), "application/atom+xml"))


async def test_the_listing_splits_new_papers_from_replacements() -> None:
    web = FakeWeb(FakeTime())
    web.on(LISTING, ok(fixture("arxiv_rss_cs.CV+cs.LG.xml"), "application/rss+xml"))
    result = await source(web).fetch(None, {})
    assert web.urls() == [LISTING]
    assert [p.id for p in result.papers] == [
        "arxiv:2602.23229",
        "arxiv:2405.13786",
        "arxiv:2509.13332",
    ]
    assert [p.id for p in result.updates] == ["arxiv:2203.01250", "arxiv:2202.12139"]
    first = result.papers[0]
    assert first.title == "Large Multimodal Models as General In-Context Classifiers"
    assert first.abstract.startswith("Which multimodal model should we use")
    assert first.authors[0] == "Marco Garosi" and len(first.authors) == 5
    assert first.categories == ("cs.CV", "cs.LG")
    assert first.url == "https://arxiv.org/abs/2602.23229"
    assert first.pdf_url == "https://arxiv.org/pdf/2602.23229"
    assert first.published == datetime(2026, 2, 27, 5, 0, tzinfo=UTC)
    assert first.sources == ("arxiv",)
    assert result.updates[0].authors == ("Antonin Monteil", "Paul Pegon")
    assert result.bad_entries == 0


async def test_a_weekend_listing_is_empty_not_an_error() -> None:
    web = FakeWeb(FakeTime())
    web.on(LISTING, ok(fixture("arxiv_rss_empty_weekend.xml")))
    result = await source(web).fetch(None, {})
    assert result.papers == [] and result.updates == [] and result.bad_entries == 0


async def test_an_unchanged_listing_is_not_modified() -> None:
    web = FakeWeb(FakeTime())
    web.on(
        LISTING,
        conditional(
            fixture("arxiv_rss_cs.CV+cs.LG.xml"),
            etag='"listing-0227"',
            last_modified="Fri, 27 Feb 2026 05:00:02 GMT",
        ),
    )
    arxiv = source(web)
    first = await arxiv.fetch(None, {})
    second = await arxiv.fetch(None, first.cursor)
    assert second.not_modified and second.papers == [] and second.updates == []
    assert second.cursor == first.cursor


async def test_the_api_is_paged_back_to_the_last_polls_newest_three_seconds_apart() -> None:
    time = FakeTime(datetime(2025, 3, 10, 6, 0, tzinfo=UTC))
    web = FakeWeb(time)
    serve_pages(web)
    result = await source(web, mode="api").fetch(None, {NEWEST_KEY: "2022-03-01T00:00:00+00:00"})
    assert web.urls() == [page_url(0), page_url(3)]
    assert (web.hits[1].at - web.hits[0].at).total_seconds() == 3.0
    assert [p.id for p in result.papers] == [
        "arxiv:2503.05378",
        "arxiv:2502.07719",
        "arxiv:2405.13786",
        "arxiv:2302.03287",
        "arxiv:2204.08348",
    ]
    assert result.cursor[NEWEST_KEY] == "2025-03-07T12:39:59+00:00"
    assert result.papers[2].categories == ("cs.SE", "cs.AI")


async def test_without_a_mark_the_api_reads_back_three_days_before_since() -> None:
    web = FakeWeb(FakeTime(datetime(2025, 3, 10, tzinfo=UTC)))
    serve_pages(web)
    since = datetime(2025, 2, 14, tzinfo=UTC)  # reads back to 2025-02-11
    result = await source(web, mode="api").fetch(since, {})
    assert web.urls() == [page_url(0)]
    assert [p.id for p in result.papers] == ["arxiv:2503.05378", "arxiv:2502.07719"]


async def test_paging_stops_at_the_end_of_the_results_and_at_the_page_cap() -> None:
    web = FakeWeb(FakeTime())
    serve_pages(web)
    everything = await source(web, mode="api").fetch(None, {NEWEST_KEY: "2000-01-01T00:00:00Z"})
    assert len(everything.papers) == 10 and len(web.urls()) == 4
    capped_web = FakeWeb(FakeTime())
    serve_pages(capped_web)
    capped = await source(capped_web, mode="api", max_pages=2).fetch(
        None, {NEWEST_KEY: "2000-01-01T00:00:00+00:00"}
    )
    assert len(capped.papers) == 6 and len(capped_web.urls()) == 2


async def test_a_page_failing_midway_keeps_what_came_and_keeps_the_old_mark() -> None:
    web = FakeWeb(FakeTime())
    web.on(page_url(0), ok(fixture("arxiv_api_page0.atom")))
    web.on(page_url(3), httpx.Response(503))
    mark = "2020-01-01T00:00:00+00:00"
    result = await source(web, mode="api").fetch(None, {NEWEST_KEY: mark})
    assert len(result.papers) == 3
    assert result.bad_entries == 1
    assert result.cursor[NEWEST_KEY] == mark  # the next poll pages back over the gap again


async def test_both_modes_merge_and_a_replacement_is_never_new() -> None:
    web = FakeWeb(FakeTime())
    web.on(LISTING, ok(fixture("arxiv_rss_cs.CV+cs.LG.xml")))
    serve_pages(web)
    result = await source(web, mode="both").fetch(None, {NEWEST_KEY: "2022-01-01T00:00:00+00:00"})
    new = {p.id for p in result.papers}
    updated = {p.id: p for p in result.updates}
    # 2202.12139 is in the API pages too, but the listing calls it a replacement.
    assert "arxiv:2202.12139" in updated and "arxiv:2202.12139" not in new
    assert {"arxiv:2602.23229", "arxiv:2503.05378", "arxiv:2405.13786"} <= new
    assert updated["arxiv:2202.12139"].categories == ("cs.SE", "cs.LG")


async def test_lookup_by_any_form_of_id_in_the_order_asked() -> None:
    web = FakeWeb(FakeTime())
    web.on(
        f"{API}?id_list=2405.13786,2202.12139&max_results=2", ok(fixture("arxiv_api_lookup.atom"))
    )
    papers = await source(web).lookup(["2405.13786v1", "https://arxiv.org/abs/2202.12139v2"])
    assert [p.id for p in papers] == ["arxiv:2405.13786", "arxiv:2202.12139"]
    assert papers[1].authors == ("Mohit Kumar Ahuja", "Arnaud Gotlieb", "Helge Spieker")


async def test_lookup_refuses_what_is_not_an_arxiv_id_before_asking() -> None:
    web = FakeWeb(FakeTime())
    with pytest.raises(ValueError, match="not an arXiv id: 'abc'"):
        await source(web).lookup(["2405.13786", "abc"])
    assert web.hits == []


async def test_lookup_reports_arxivs_own_error_message() -> None:
    web = FakeWeb(FakeTime())
    url = f"{API}?id_list=2405.13786&max_results=1"
    web.on(url, httpx.Response(400, content=fixture("arxiv_api_error_400.atom")))
    with pytest.raises(
        SourceError, match=r"HTTP 400 \(arXiv API error: incorrect id format for abc\)"
    ):
        await source(web).lookup(["2405.13786"])
    assert len(web.hits) == 1  # a 400 is not retried


async def test_a_long_lookup_is_batched_and_spaced() -> None:
    time = FakeTime()
    web = FakeWeb(time)
    ids = [f"2406.{n:05d}" for n in range(250)]
    for first in (0, 100, 200):
        batch = ids[first : first + 100]
        web.on(
            f"{API}?id_list={','.join(batch)}&max_results={len(batch)}",
            ok(fixture("arxiv_api_empty.atom")),
        )
    assert await source(web).lookup(ids) == []
    starts = [hit.at for hit in web.hits]
    assert len(starts) == 3
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(starts)] == [3.0, 3.0]


async def test_a_truncated_listing_keeps_its_complete_items_and_is_fetched_whole_next_time() -> (
    None
):
    body = fixture("arxiv_rss_cs.CV+cs.LG.xml")
    cut = body[: body.index(b"<item>", body.index(b"2405.13786")) + 200]
    web = FakeWeb(FakeTime())
    web.on(LISTING, ok(cut, ETag='"partial"'))
    result = await source(web).fetch(None, {})
    assert [p.id for p in result.papers] == ["arxiv:2602.23229", "arxiv:2405.13786"]
    assert result.bad_entries == 1
    assert result.cursor == {}  # no validators: a 304 next time would hide the lost items


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("billion_laughs.xml", "refused unsafe XML"),
        ("external_entity.xml", "refused unsafe XML"),
        ("html_error_page.html", r"not an RSS listing \(root element <html>\)"),
        ("hf_daily_papers_2026-03-05.json", "not XML"),
    ],
)
async def test_a_listing_that_is_not_one_fails_the_poll_with_the_reason(
    name: str, message: str
) -> None:
    web = FakeWeb(FakeTime())
    web.on(LISTING, ok(fixture(name)))
    prefix = re.escape(f"arxiv: GET {LISTING}: unusable response: ")
    with pytest.raises(SourceError, match=prefix + message):
        await source(web).fetch(None, {})


def rss(*items: str) -> bytes:
    head = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>'
    )
    return (head + "".join(items) + "</channel></rss>").encode()


def item(guid: str, title: str = "A title", announce: str = "new") -> str:
    return (
        f"<item><title>{title}</title><guid isPermaLink='false'>{guid}</guid>"
        f"<description>arXiv:x Announce Type: {announce} \nAbstract: Text.</description>"
        f"<arxiv:announce_type>{announce}</arxiv:announce_type></item>"
    )


def test_listing_items_without_id_or_title_or_seen_twice_are_dropped_and_counted() -> None:
    parsed = parse_rss_listing(
        rss(
            item("oai:arXiv.org:hep-th/9901001v3", announce="replace-cross"),
            item("oai:arXiv.org:2406.12345v1"),
            item("something-else"),
            item("oai:arXiv.org:2406.12346v1", title="   "),
            item("oai:arXiv.org:2406.12345v2"),
        )
    )
    assert [p.id for p in parsed.updates] == ["arxiv:hep-th/9901001"]
    assert [p.id for p in parsed.papers] == ["arxiv:2406.12345"]
    assert parsed.problems == (
        "item 2: no arXiv id (guid 'something-else', link '')",
        "item 3: arxiv:2406.12346: no title",
        "item 4: arxiv:2406.12345 appears twice; kept the first",
    )


def test_the_real_api_sample_reads_fully() -> None:
    page = parse_api_feed(fixture("arxiv_api_page0.atom"))
    assert page.entries == 3 and page.total == 10 and page.parsed.bad == 0
    first = page.parsed.papers[0]
    assert first.id == "arxiv:2503.05378"
    assert first.published == datetime(2025, 3, 7, 12, 39, 59, tzinfo=UTC)


def api_page(papers: list[tuple[str, datetime]], total: int) -> bytes:
    """An API page shaped as arXiv answers (as in the recorded pages), with these papers."""
    entries = "".join(
        f"""<entry><id>http://arxiv.org/abs/{pid}v1</id><title>Paper {pid}</title>
        <updated>{at:%Y-%m-%dT%H:%M:%SZ}</updated><summary>About {pid}.</summary>
        <link href="https://arxiv.org/abs/{pid}v1" rel="alternate" type="text/html"/>
        <category term="cs.CV" scheme="http://arxiv.org/schemas/atom"/>
        <published>{at:%Y-%m-%dT%H:%M:%SZ}</published><arxiv:primary_category term="cs.CV"/>
        <author><name>A. Author</name></author></entry>"""
        for pid, at in papers
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom"><id>https://arxiv.org/api/x</id>'
        f"<opensearch:totalResults>{total}</opensearch:totalResults>{entries}</feed>"
    ).encode()


# Seven submissions, newest first, an hour apart; the last poll's newest was the day before.
BACKLOG = [(f"2503.0000{n}", datetime(2025, 3, 7, 12 - n, tzinfo=UTC)) for n in range(1, 8)]
OLD_MARK = datetime(2025, 3, 6, tzinfo=UTC)


async def test_a_backlog_over_the_page_cap_is_read_by_the_next_polls() -> None:
    web = FakeWeb(FakeTime(datetime(2025, 3, 8, tzinfo=UTC)))
    arxiv = source(web, mode="api", page_size=2, max_pages=2)
    for start in (0, 2):
        web.on(page_url(start, 2), ok(api_page(BACKLOG[start : start + 2], 7)))
    # What the API answers for the stretch a capped poll left, as it narrows.
    for oldest_read in (3, 4, 5):
        low = OLD_MARK
        high = BACKLOG[oldest_read][1]
        rest = BACKLOG[oldest_read:]
        web.on(arxiv.api_url(0, (low, high)), ok(api_page(rest[:2], len(rest))))

    seen: set[str] = set()
    cursor = {NEWEST_KEY: OLD_MARK.isoformat()}
    for _ in range(4):
        result = await arxiv.fetch(None, cursor)
        seen |= {p.id for p in result.papers}
        cursor = result.cursor
    await arxiv.aclose()
    assert seen == {f"arxiv:{pid}" for pid, _ in BACKLOG}  # every one, though 2 pages a poll
    assert cursor == {NEWEST_KEY: BACKLOG[0][1].isoformat()}  # nothing left to read
    assert "submittedDate:[202503060000+TO+202503070800]" in web.urls()[3]


async def test_a_short_page_before_the_total_is_not_the_end() -> None:
    web = FakeWeb(FakeTime(datetime(2025, 3, 8, tzinfo=UTC)))
    web.on(page_url(0, 2), ok(api_page(BACKLOG[:2], 7)))
    web.on(page_url(2, 2), ok(api_page([], 7)))  # arXiv's API answers an empty page at times
    result = await source(web, mode="api", page_size=2).fetch(
        None, {NEWEST_KEY: OLD_MARK.isoformat()}
    )
    assert len(result.papers) == 2
    assert result.cursor[NEWEST_KEY] == OLD_MARK.isoformat()  # the next poll reads it again
