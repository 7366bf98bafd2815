"""Building the configured sources by name, wired to the settings' URLs."""

from __future__ import annotations

import importlib.util

import pytest

from adapters.sources.arxiv import ArxivSource
from adapters.sources.feed import FeedSource
from adapters.sources.huggingface import HuggingFaceSource
from adapters.sources.registry import build_sources
from config.settings import Settings
from tests.source_fakes import FakeTime, FakeWeb, fixture, ok


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_default_sources_are_built_from_settings() -> None:
    built = build_sources(settings())
    assert [s.name for s in built] == ["huggingface", "arxiv"]
    assert isinstance(built[0], HuggingFaceSource) and isinstance(built[1], ArxivSource)
    assert built[1].mode == "rss" and built[1].categories == ("cs.CV", "cs.LG", "cs.CL", "cs.AI")


def test_named_sources_in_the_order_asked_without_repeats() -> None:
    built = build_sources(
        settings(feeds=["https://journal.example.org/rss"], arxiv_mode="both"),
        ["feed", "arxiv", "feed"],
    )
    assert [s.name for s in built] == ["feed", "arxiv"]
    assert isinstance(built[0], FeedSource) and built[0].urls == (
        "https://journal.example.org/rss",
    )
    assert isinstance(built[1], ArxivSource) and built[1].mode == "both"


def test_an_unknown_source_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="unknown source 'scholar'; expected one of"):
        build_sources(settings(), ["huggingface", "scholar"])


def test_the_feed_source_without_feeds_says_which_setting_to_set() -> None:
    with pytest.raises(ValueError, match="PAPERBOT_FEEDS"):
        build_sources(settings(), ["feed"])


@pytest.mark.skipif(
    importlib.util.find_spec("adapters.sources.sample") is None,
    reason="the sample source is written on another branch",
)
def test_the_sample_source_is_built_by_name() -> None:
    (sample,) = build_sources(settings(), ["sample"])
    assert sample.name == "sample"


async def test_built_sources_use_the_configured_urls_transport_and_clock() -> None:
    web = FakeWeb(FakeTime())
    base = "https://hf-mirror.example/api"
    web.on(f"{base}/daily_papers?date=2026-03-06", ok(fixture("hf_daily_papers_2026-03-06.json")))
    web.on(f"{base}/daily_papers?date=2026-03-05", ok(b"[]"))
    (hf,) = build_sources(
        settings(huggingface_url=base, http_timeout=5),
        ["huggingface"],
        transport=web.transport,
        clock=web.time.clock,
        sleep=web.time.sleep,
    )
    result = await hf.fetch(None, {})
    await hf.aclose()
    assert len(result.papers) == 3
    assert web.urls() == [
        f"{base}/daily_papers?date=2026-03-06",
        f"{base}/daily_papers?date=2026-03-05",
    ]
    assert web.time.sleeps == [1.0]  # the two requests to one host are spaced
