"""Operator-listed RSS/Atom feeds through feedparser: every flavour, and every kind of bad feed."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from adapters.sources.feed import FeedSource, parse_feed
from adapters.sources.http import PoliteClient
from adapters.sources.sanitize import MalformedResponse
from bot.ports import SourceError
from tests.source_fakes import FakeTime, FakeWeb, conditional, fixture, ok

JOURNAL = "https://journal.example.org/rss/latest.xml"
READING = "https://lab.example.org/reading/atom.xml"
PRESS = "https://press.example.org/rss/current"
OLD = "https://old.example.org/rss.xml"


def source(web: FakeWeb, *urls: str) -> FeedSource:
    http = PoliteClient(
        "feed",
        transport=web.transport,
        clock=web.time.clock,
        sleep=web.time.sleep,
        jitter=lambda: 0.0,
    )
    return FeedSource(urls, http=http, clock=web.time.clock)


def test_rss2_journal_feed_with_dois_and_semicolon_authors() -> None:
    parsed = parse_feed(fixture("feed_journal_rss2.xml"), JOURNAL, "application/rss+xml")
    first, second = parsed.papers
    assert first.id == "doi:10.5555/emp.2026.0311"
    assert first.title.startswith("MixSA: Training-free Reference-based Sketch Extraction")
    assert first.abstract.startswith("Current sketch extraction methods")
    assert "<p>" not in first.abstract
    assert first.authors == ("Yang, Y.", "Chen, L.", "Wu, K.")
    assert first.categories == ("Sketch extraction", "Diffusion models")
    assert first.published == datetime(2026, 3, 5, 14, 0, tzinfo=UTC)
    assert first.url == "https://journal.example.org/articles/10.5555/emp.2026.0311"
    assert first.sources == ("feed",)
    assert second.authors == ("Xiang Li", "Ming Zhao", "Julia Stern")
    assert parsed.problems == (
        "entry 2: doi:10.5555/emp.2026.0312 appears twice; kept the first",
        f"entry 3: url:{JOURNAL}#emp-2026-0313: no title",
        "entry 4: no guid, link or DOI",
    )


def test_atom_feed_ids_from_arxiv_links_doi_links_and_tag_uris() -> None:
    parsed = parse_feed(fixture("feed_reading_list.atom"), READING, "application/atom+xml")
    arxiv, tagged, doi = parsed.papers
    assert arxiv.id == "arxiv:2602.23229"
    assert arxiv.url == "https://arxiv.org/abs/2602.23229"
    assert arxiv.pdf_url == "https://arxiv.org/pdf/2602.23229"
    assert tagged.id == "url:tag:lab.example.org,2026:reading/42"
    assert tagged.title == "FiT: Flexible Vision Transformer for Diffusion Model & friends"
    assert tagged.url == "https://lab.example.org/reading/2026/03/hesso"  # resolved
    assert "alert(1)" not in tagged.abstract and tagged.abstract.startswith(
        "Nature is infinitely resolution-free"
    )
    assert tagged.published == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert doi.id == "doi:10.5555/3600270.3601234"
    assert parsed.problems == ("entry 3: url:tag:lab.example.org,2026:reading/44: no title",)


def test_rss1_rdf_feed_with_repeated_creators() -> None:
    parsed = parse_feed(fixture("feed_press_rss1.rdf"), PRESS, "application/rdf+xml")
    (paper,) = parsed.papers
    assert paper.id == "doi:10.5555/s41586-026-0001"
    assert paper.authors == ("Xiaoqian Shen", "Mohamed Elhoseiny")
    assert paper.published == datetime(2026, 3, 4, tzinfo=UTC)
    assert parsed.bad == 0


def test_rss091_with_the_netscape_doctype_in_latin1() -> None:
    parsed = parse_feed(fixture("feed_old_lab_rss091.xml"), OLD, "text/xml")
    (paper,) = parsed.papers
    assert paper.title == "Café de Flore: a résumé of naïve Bayes"
    assert paper.id == "url:https://old.example.org/preprints/17.html"


@pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml"])
def test_entity_declarations_are_refused_before_feedparser_sees_them(name: str) -> None:
    with pytest.raises(MalformedResponse, match="refused unsafe XML"):
        parse_feed(fixture(name), "https://evil.example.org/feed", "application/rss+xml")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (fixture("html_error_page.html"), "text/html"),
        (b'{"items": []}', "application/json"),
        (b"", "application/rss+xml"),
    ],
)
def test_a_response_that_is_not_a_feed_is_refused(body: bytes, content_type: str) -> None:
    with pytest.raises(MalformedResponse, match="not an RSS or Atom feed"):
        parse_feed(body, JOURNAL, content_type)


def test_a_truncated_feed_keeps_its_complete_entries() -> None:
    body = fixture("feed_journal_rss2.xml")
    cut = body[: body.index(b"<item>", body.index(b"emp.2026.0312")) + 40]
    parsed = parse_feed(cut, JOURNAL, "application/rss+xml")
    assert [p.id for p in parsed.papers] == [
        "doi:10.5555/emp.2026.0311",
        "doi:10.5555/emp.2026.0312",
    ]
    assert not parsed.complete
    assert parsed.problems[-1].startswith("feed: XML is broken")


async def test_every_feed_is_polled_and_a_bad_one_does_not_stop_the_others() -> None:
    web = FakeWeb(FakeTime())
    web.on(JOURNAL, ok(fixture("feed_journal_rss2.xml"), "application/rss+xml"))
    web.on(READING, ok(fixture("billion_laughs.xml"), "application/atom+xml"))
    web.on(PRESS, httpx.Response(410))
    web.on(OLD, ok(fixture("feed_old_lab_rss091.xml"), "text/xml"))
    result = await source(web, JOURNAL, READING, PRESS, OLD).fetch(None, {})
    assert [p.id for p in result.papers] == [
        "doi:10.5555/emp.2026.0311",
        "doi:10.5555/emp.2026.0312",
        "url:https://old.example.org/preprints/17.html",
    ]
    assert result.bad_entries == 3 + 1 + 1  # three entries, one unsafe feed, one gone feed
    assert "application/rss+xml" in web.hits[0].request.headers["Accept"]


async def test_a_feed_url_that_cannot_be_requested_fails_alone() -> None:
    web = FakeWeb(FakeTime())
    web.on(JOURNAL, ok(fixture("feed_journal_rss2.xml"), "application/rss+xml"))
    result = await source(web, "https://[fe80::1/feed", JOURNAL).fetch(None, {})
    assert len(result.papers) == 2 and result.bad_entries == 3 + 1


async def test_a_poll_of_feeds_that_all_fail_is_a_source_error() -> None:
    web = FakeWeb(FakeTime())
    web.on(JOURNAL, ok(fixture("html_error_page.html"), "text/html"))
    with pytest.raises(
        SourceError, match=r"feed: GET .*: unusable response: not an RSS or Atom feed"
    ):
        await source(web, JOURNAL).fetch(None, {})


async def test_unchanged_feeds_are_not_modified() -> None:
    web = FakeWeb(FakeTime())
    web.on(
        JOURNAL,
        conditional(
            fixture("feed_journal_rss2.xml"),
            etag='"j1"',
            last_modified="Fri, 06 Mar 2026 08:00:00 GMT",
        ),
    )
    feeds = source(web, JOURNAL)
    first = await feeds.fetch(None, {})
    second = await feeds.fetch(None, first.cursor)
    await feeds.aclose()
    assert len(first.papers) == 2
    assert second.not_modified and second.papers == []


def test_a_feed_source_needs_feeds() -> None:
    with pytest.raises(ValueError, match="PAPERBOT_FEEDS"):
        FeedSource([])


def test_math_and_inline_markup_in_a_feed_survive_as_text() -> None:
    rss = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Lab</title><link>https://lab.example/</link>
<item><title>Electrochemical CO&lt;sub&gt;2&lt;/sub&gt; reduction</title>
<link>https://lab.example/p/1</link>
<description>We prove that $a&lt;b$ and $c&gt;d$ imply the bound.
&lt;script&gt;alert(1)&lt;/script&gt;&lt;p&gt;More.&lt;/p&gt;</description></item>
</channel></rss>"""
    [paper] = parse_feed(rss, "https://lab.example/rss", "application/rss+xml").papers
    assert paper.title == "Electrochemical CO2 reduction"
    assert paper.abstract == "We prove that $a<b$ and $c>d$ imply the bound. More."


def test_html_entities_in_a_whole_feed_are_read_not_counted_as_breakage() -> None:
    rss = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Lab&nbsp;news</title><link>https://lab.example/</link>
<item><title>Caf&eacute; models</title><link>https://lab.example/p/1</link>
<description>Fast&nbsp;training.</description></item>
</channel></rss>"""
    parsed = parse_feed(rss, "https://lab.example/rss", "application/rss+xml")
    assert parsed.complete and not parsed.problems  # so its validators are kept for next time
    assert [p.title for p in parsed.papers] == ["Café models"]
    cut = parse_feed(rss[: rss.index(b"</item>")], "https://lab.example/rss", "application/rss+xml")
    assert not cut.complete  # cut short: read again in full next time
