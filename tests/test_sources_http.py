"""The polite HTTP client: conditional requests, retries, backoff, spacing, limits."""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from adapters.sources.http import (
    ARXIV_GATE,
    Fetched,
    HostGates,
    HttpFailure,
    PoliteClient,
    conditional_headers,
    retry_after_seconds,
    validators_of,
)
from adapters.sources.polling import Poll
from adapters.sources.sanitize import Parsed
from bot.models import Paper
from bot.ports import SourceError
from tests.source_fakes import FakeTime, FakeWeb, conditional, ok

URL = "https://hf.example/api/daily_papers?date=2026-03-06"


def client(web: FakeWeb, **kwargs: object) -> PoliteClient:
    kwargs.setdefault("jitter", lambda: 0.0)
    return PoliteClient(
        "huggingface",
        transport=web.transport,
        clock=web.time.clock,
        sleep=web.time.sleep,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_get_names_paperbot_in_the_user_agent() -> None:
    web = FakeWeb(FakeTime())
    web.on(URL, ok(b"[]", "application/json"))
    http = client(web)
    fetched = await http.get(URL)
    await http.aclose()
    assert fetched.status == 200 and fetched.content == b"[]"
    assert web.hits[0].request.headers["User-Agent"].startswith("paperbot/")


async def test_validators_are_sent_back_and_304_parses_nothing() -> None:
    web = FakeWeb(FakeTime())
    web.on(URL, conditional(b"[1]", etag='W/"abc"', last_modified="Fri, 06 Mar 2026 10:00:00 GMT"))
    http = client(web)
    first = await http.get(URL)
    cursor = validators_of(first)
    second = await http.get(URL, validators=cursor)
    await http.aclose()
    assert not first.not_modified and first.content == b"[1]"
    assert second.not_modified and second.content == b""
    sent = web.hits[1].request.headers
    assert sent["If-None-Match"] == 'W/"abc"'
    assert sent["If-Modified-Since"] == "Fri, 06 Mar 2026 10:00:00 GMT"
    assert "If-None-Match" not in web.hits[0].request.headers


async def test_429_waits_the_seconds_retry_after_says() -> None:
    time = FakeTime()
    web = FakeWeb(time)
    web.on(URL, httpx.Response(429, headers={"Retry-After": "7"}), ok(b"[]"))
    http = client(web)
    fetched = await http.get(URL)
    assert fetched.status == 200
    assert time.sleeps == [7.0]
    assert web.hits[1].at - web.hits[0].at == timedelta(seconds=7)


async def test_429_waits_until_the_http_date_retry_after_names() -> None:
    time = FakeTime(datetime(2026, 3, 6, 12, 0, 0, tzinfo=UTC))
    web = FakeWeb(time)
    web.on(
        URL,
        httpx.Response(429, headers={"Retry-After": "Fri, 06 Mar 2026 12:00:30 GMT"}),
        ok(b"[]"),
    )
    fetched = await client(web).get(URL)
    assert fetched.status == 200
    assert time.sleeps == [30.0]


async def test_5xx_is_retried_with_growing_backoff_then_succeeds() -> None:
    time = FakeTime()
    web = FakeWeb(time)
    web.on(URL, httpx.Response(503), httpx.Response(408), ok(b"[]"))  # 408: timed out there
    fetched = await client(web, backoff=2.0, jitter=lambda: 1.0).get(URL)
    assert fetched.status == 200
    assert len(web.hits) == 3
    assert time.sleeps == [2.0, 4.0]


async def test_jitter_spreads_the_backoff_between_half_and_full() -> None:
    http = PoliteClient("x", backoff=2.0, max_backoff=60.0, jitter=lambda: 0.0)
    assert [http.backoff_delay(n) for n in (1, 2, 3, 10)] == [1.0, 2.0, 4.0, 30.0]


async def test_5xx_that_never_ends_is_one_clear_source_error() -> None:
    web = FakeWeb(FakeTime())
    web.on(URL, httpx.Response(500))
    with pytest.raises(SourceError) as caught:
        await client(web, attempts=3).get(URL)
    assert str(caught.value) == f"huggingface: GET {URL} failed: HTTP 500 after 3 attempts"
    assert len(web.hits) == 3


async def test_other_4xx_is_not_retried() -> None:
    web = FakeWeb(FakeTime())
    web.on(URL, httpx.Response(404, text="not found"))
    with pytest.raises(HttpFailure) as caught:
        await client(web).get(URL)
    assert caught.value.status == 404 and caught.value.body == b"not found"
    assert "HTTP 404" in str(caught.value)
    assert len(web.hits) == 1


async def test_connection_errors_and_timeouts_are_retried() -> None:
    web = FakeWeb(FakeTime())
    web.on(URL, httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), ok(b"[]"))
    fetched = await client(web).get(URL)
    assert fetched.status == 200 and len(web.hits) == 3


async def test_timeouts_every_time_fail_naming_the_timeout() -> None:
    web = FakeWeb(FakeTime())
    web.on(URL, httpx.ConnectTimeout("no answer"))
    with pytest.raises(SourceError, match=r"timed out after 20s after 4 attempts"):
        await client(web).get(URL)


async def test_a_server_that_never_finishes_is_cut_by_the_whole_request_deadline() -> None:
    web = FakeWeb(FakeTime())

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    web.on(URL, hang)
    with pytest.raises(SourceError, match=r"timed out after 0\.05s"):
        await client(web, timeout=0.05, attempts=1).get(URL)


async def test_a_retry_after_longer_than_a_poll_gives_up_at_once() -> None:
    time = FakeTime()
    web = FakeWeb(time)
    web.on(URL, httpx.Response(503, headers={"Retry-After": "3600"}))
    with pytest.raises(SourceError, match="HTTP 503, asked to retry after 3600s"):
        await client(web).get(URL)
    assert len(web.hits) == 1 and time.sleeps == []


async def test_a_body_over_the_limit_is_refused() -> None:
    web = FakeWeb(FakeTime())
    web.on(URL, ok(b"x" * 5000))
    with pytest.raises(SourceError, match="larger than 1000 bytes"):
        await client(web, max_bytes=1000).get(URL)
    assert len(web.hits) == 1


async def test_arxiv_requests_are_spaced_three_seconds_and_one_at_a_time() -> None:
    time = FakeTime()
    web = FakeWeb(time)
    in_flight = 0
    most = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0)  # let any other request in, if the gate allowed it
        in_flight -= 1
        return ok(b"<feed/>")

    urls = [
        "https://rss.arxiv.org/rss/cs.CV",
        "https://export.arxiv.org/api/query?id_list=2406.12345",
        "https://rss.arxiv.org/rss/cs.LG",
    ]
    for url in urls:
        web.on(url, slow)
    gates = HostGates(time.clock, time.sleep)
    rss = PoliteClient("arxiv", transport=web.transport, gates=gates, clock=time.clock)
    api = PoliteClient("arxiv", transport=web.transport, gates=gates, clock=time.clock)
    await asyncio.gather(rss.get(urls[0]), api.get(urls[1], gate=ARXIV_GATE), rss.get(urls[2]))
    starts = [hit.at for hit in web.hits]
    assert most == 1
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(starts)] == [3.0, 3.0]
    assert time.sleeps == [3.0, 3.0]


async def test_each_hop_of_a_redirect_goes_through_the_gate_and_keeps_the_asked_url() -> None:
    time = FakeTime()
    web = FakeWeb(time)
    asked = "http://export.arxiv.org/api/query?id_list=2406.12345"
    moved = "https://export.arxiv.org/api/query?id_list=2406.12345"
    web.on(asked, httpx.Response(301, headers={"Location": moved}))
    web.on(moved, ok(b"<feed/>", "application/atom+xml", ETag='"v1"'))
    http = PoliteClient(
        "arxiv", transport=web.transport, gates=HostGates(time.clock, time.sleep), clock=time.clock
    )
    fetched = await http.get(asked, gate=ARXIV_GATE)
    await http.aclose()
    assert web.urls() == [asked, moved]
    assert (web.hits[1].at - web.hits[0].at).total_seconds() == 3.0  # arXiv's spacing
    assert fetched.url == asked and fetched.content == b"<feed/>"  # validators under `asked`
    assert fetched.etag == '"v1"'


async def test_a_redirect_loop_is_one_clear_failure() -> None:
    web = FakeWeb(FakeTime())
    web.on(URL, httpx.Response(302, headers={"Location": URL}))
    with pytest.raises(HttpFailure, match="more than 5 redirects"):
        await client(web).get(URL)
    assert len(web.hits) == 6


async def test_other_hosts_are_spaced_by_their_own_gate() -> None:
    time = FakeTime()
    gates = HostGates(time.clock, time.sleep)
    assert gates.key_for("https://export.arxiv.org/api/query") == ARXIV_GATE
    assert gates.key_for("https://rss.arxiv.org/rss/cs.CV") == ARXIV_GATE
    assert gates.key_for("https://huggingface.co/api/daily_papers") == "huggingface.co"
    assert gates.interval(ARXIV_GATE) == 3.0 and gates.interval("huggingface.co") == 1.0
    async with gates.slot("huggingface.co"):
        pass
    async with gates.slot(ARXIV_GATE):
        pass
    assert time.sleeps == []  # different gates do not wait for each other


def test_retry_after_forms() -> None:
    now = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds("Fri, 06 Mar 2026 12:01:00 GMT", now) == 60.0
    assert retry_after_seconds("Fri, 06 Mar 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_conditional_headers_come_from_the_cursor_of_that_url_only() -> None:
    cursor = {f"etag:{URL}": '"v1"', "etag:https://other.example/": '"v9"'}
    assert conditional_headers(cursor, URL) == {"If-None-Match": '"v1"'}
    assert conditional_headers(cursor, "https://new.example/") == {}


async def test_no_http_client_exists_before_the_first_request() -> None:
    http = PoliteClient("x")
    assert http._client is None
    await http.aclose()
    assert http._client is None


async def test_a_parser_crash_is_one_failed_request_and_the_poll_goes_on() -> None:
    web = FakeWeb(FakeTime())
    good, bad = "https://a.example/good", "https://a.example/bad"
    web.on(good, ok(b"fine"))
    web.on(bad, ok(b"surprising"))

    def parse(fetched: Fetched) -> Parsed:
        if fetched.content == b"surprising":
            raise IndexError("a parser bug")
        return Parsed(papers=(Paper(id="url:https://a.example/1", title="Kept"),))

    poll = Poll("feed", client(web), {})
    assert not (await poll.get(good, parse)).failed
    assert (await poll.get(bad, parse)).failed
    result = poll.result()
    assert [p.title for p in result.papers] == ["Kept"]
    assert result.bad_entries == 1
    assert poll.failures == [f"feed: GET {bad}: parsing failed (IndexError)"]


async def test_parsing_leaves_the_event_loop_free() -> None:
    web = FakeWeb(FakeTime())
    url = "https://a.example/huge.xml"
    web.on(url, ok(b"a feed of megabytes"))
    parsing, loop_ran = threading.Event(), threading.Event()

    def slow_parse(fetched: Fetched) -> Parsed:
        parsing.set()
        # On the event loop's own thread this would wait in vain: the loop could not run.
        assert loop_ran.wait(timeout=5), "the event loop was blocked while parsing"
        return Parsed(papers=(Paper(id="url:https://a.example/1", title="Parsed"),))

    async def meanwhile() -> None:
        assert await asyncio.to_thread(parsing.wait, 5)
        loop_ran.set()

    poll = Poll("feed", client(web), {})
    outcome, _ = await asyncio.gather(poll.get(url, slow_parse), meanwhile())
    assert not outcome.failed
    assert [p.title for p in poll.result().papers] == ["Parsed"]
