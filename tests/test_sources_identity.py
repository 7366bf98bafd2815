"""Canonical ids and cleaning: one paper, one id, one plain-text record, whichever source saw it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.sources.arxiv_parse import parse_rss_listing
from adapters.sources.feed import parse_feed
from adapters.sources.huggingface import parse_daily_papers
from adapters.sources.identity import arxiv_id, canonical_id, normalize_doi
from adapters.sources.sanitize import parse_datetime, plain_text, split_authors, web_url
from tests.source_fakes import fixture


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2406.12345", "2406.12345"),
        ("2406.12345v2", "2406.12345"),
        ("0704.0001", "0704.0001"),
        ("arXiv:2406.12345v3", "2406.12345"),
        ("oai:arXiv.org:2203.01250v3", "2203.01250"),
        ("oai:arXiv.org:hep-th/9901001v2", "hep-th/9901001"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("https://arxiv.org/abs/2406.12345v2", "2406.12345"),
        ("http://export.arxiv.org/abs/hep-th/9901001", "hep-th/9901001"),
        ("https://arxiv.org/pdf/2406.12345v1.pdf", "2406.12345"),
        ("https://arxiv.org/abs/math.GT/0309136", "math/0309136"),
        ("https://huggingface.co/papers/2602.23229", "2602.23229"),
        ("https://doi.org/10.48550/arXiv.2406.12345", "2406.12345"),
        ("https://example.org/abs/2406.12345", None),
        ("https://arxiv.org/list/cs.CV/new", None),
        ("https://huggingface.co/models/2406.12345", None),
        ("1234.123", None),
        ("", None),
    ],
)
def test_arxiv_ids_in_every_form(text: str, expected: str | None) -> None:
    assert arxiv_id(text) == expected


def test_a_bare_number_in_a_guid_is_not_taken_for_an_arxiv_id() -> None:
    assert arxiv_id("2406.12345", bare=False) is None
    assert canonical_id(guid="2406.12345", link="https://blog.example/p/1") == (
        "url:https://blog.example/p/1"
    )


def test_an_arxiv_doi_is_the_arxiv_paper() -> None:
    for doi in ("10.48550/arXiv.2406.12345", "https://doi.org/10.48550/arxiv.2406.12345v2"):
        assert canonical_id(doi=doi, link="https://journal.example/a/1") == "arxiv:2406.12345"


def test_canonical_id_prefers_arxiv_then_doi_then_guid_or_link() -> None:
    assert (
        canonical_id(doi="10.1/x", guid="oai:arXiv.org:2406.12345v1", link="https://x.org/1")
        == "arxiv:2406.12345"
    )
    assert canonical_id(doi="https://doi.org/10.1101/2024.01.01.ABC") == (
        "doi:10.1101/2024.01.01.abc"
    )
    assert canonical_id(guid="tag:x.org,2024:1", link="https://x.org/1") == "url:tag:x.org,2024:1"
    assert canonical_id(link="https://x.org/1") == "url:https://x.org/1"
    assert canonical_id(guid="42", scope="https://feed.example/rss") == (
        "url:https://feed.example/rss#42"
    )
    assert canonical_id() is None


def test_doi_forms() -> None:
    assert normalize_doi("doi:10.5555/ABC") == "10.5555/abc"
    assert normalize_doi("https://dx.doi.org/10.5555/a%2Fb") == "10.5555/a/b"
    assert normalize_doi("11.5555/abc") is None


def test_the_same_paper_from_three_sources_has_one_id_and_merges_upvotes_and_categories() -> None:
    hf = next(
        p
        for p in parse_daily_papers(fixture("hf_daily_papers_2026-03-06.json")).papers
        if p.title.startswith("Large Multimodal")
    )
    listed = parse_rss_listing(fixture("arxiv_rss_cs.CV+cs.LG.xml")).papers[0]
    blogged = parse_feed(fixture("feed_reading_list.atom"), "https://lab.example.org/r").papers[0]
    assert hf.id == listed.id == blogged.id == "arxiv:2602.23229"

    # Stored from the arXiv listing first, then seen on Hugging Face...
    merged = listed.merged_with(hf)
    assert merged.upvotes == 10 and merged.comments == 1
    assert merged.categories == ("cs.CV", "cs.LG")
    assert merged.code_url == "https://github.com/marco-garosi/CIRCLE"
    assert merged.sources == ("arxiv", "huggingface")
    assert merged.published == datetime(2026, 2, 27, 5, 0, tzinfo=UTC)
    # ...or the other way round: the same facts survive.
    other = hf.merged_with(listed)
    assert (other.upvotes, other.categories) == (10, ("cs.CV", "cs.LG"))
    assert other.url == "https://arxiv.org/abs/2602.23229"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<b>Bold</b> &amp; <i class='x'>italic</i>", "Bold & italic"),
        ("line\n\n   break\tand  tabs", "line break and tabs"),
        ("for $a<b$ and $c>d$", "for $a<b$ and $c>d$"),
        ("x&lt;y &#8211; z", "x<y – z"),
        ("<p>one</p><p>two</p>", "one two"),
        ("Electrochemical CO<sub>2</sub> reduction", "Electrochemical CO2 reduction"),
        ("<section><p>We release</p></section><figure>a model</figure>", "We release a model"),
        ("<jats:p>The <jats:italic>in vivo</jats:italic> case</jats:p>", "The in vivo case"),
        ("<b>Bold</b>face and a<br>break", "Boldface and a break"),
        ("<script>alert(1)</script>safe<!-- hidden -->", "safe"),
        ("null\x00byte\u200b", "nullbyte"),
        (None, ""),
        (42, ""),
    ],
)
def test_plain_text(raw: object, clean: str) -> None:
    assert plain_text(raw) == clean


@pytest.mark.parametrize(
    ("raw", "authors"),
    [
        ("Antonin Monteil, Paul Pegon", ["Antonin Monteil", "Paul Pegon"]),
        ("Jane Doe, John Roe and Ann Poe", ["Jane Doe", "John Roe", "Ann Poe"]),
        ("Smith, J.; Doe, A.", ["Smith, J.", "Doe, A."]),
        ("Doe, Jane", ["Doe, Jane"]),
        ("", []),
    ],
)
def test_split_authors(raw: str, authors: list[str]) -> None:
    assert split_authors(raw) == authors


def test_only_http_links_are_kept() -> None:
    assert web_url(" https://github.com/x/y ") == "https://github.com/x/y"
    assert web_url("javascript:alert(1)") is None
    assert web_url("https://" + "a" * 3000) is None
    assert web_url(["https://x"]) is None


def test_dates_in_iso_and_rfc822() -> None:
    assert parse_datetime("2026-02-26T17:08:18.000Z") == datetime(
        2026, 2, 26, 17, 8, 18, tzinfo=UTC
    )
    assert parse_datetime("Fri, 27 Feb 2026 00:00:00 -0500") == datetime(
        2026, 2, 27, 5, 0, tzinfo=UTC
    )
    assert parse_datetime("yesterday") is None
