"""Building the configured paper sources by name."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

import httpx

from adapters.sources.arxiv import ArxivSource
from adapters.sources.feed import FeedSource
from adapters.sources.http import HostGates, PoliteClient, Sleep
from adapters.sources.huggingface import HuggingFaceSource
from bot.ports import Clock, PaperSource, utcnow
from config.settings import SOURCE_NAMES, Settings


def build_sources(
    settings: Settings,
    names: Sequence[str] | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = utcnow,
    sleep: Sleep = asyncio.sleep,
    gates: HostGates | None = None,
    jitter: Callable[[], float] = random.random,
) -> list[PaperSource]:
    """The sources called `names` (default `settings.sources`), in that order, each owning its
    HTTP client (opened on first use, closed by `aclose`).

    Raises ValueError naming an unknown source, or a source its settings cannot build (the
    feed source with no feeds). `transport`, `clock`, `sleep` and `jitter` are seams for tests;
    with the real clock and sleep, every source shares the process's per-host gates.
    """
    wanted = list(dict.fromkeys(settings.sources if names is None else names))
    for name in wanted:
        if name not in SOURCE_NAMES:
            raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCE_NAMES)}")
    if gates is None and not (clock is utcnow and sleep is asyncio.sleep):
        gates = HostGates(clock, sleep)

    def http(name: str) -> PoliteClient:
        return PoliteClient(
            name,
            timeout=settings.http_timeout,
            transport=transport,
            gates=gates,
            clock=clock,
            sleep=sleep,
            jitter=jitter,
        )

    sources: list[PaperSource] = []
    for name in wanted:
        if name == "huggingface":
            sources.append(
                HuggingFaceSource(settings.huggingface_url, http=http(name), clock=clock)
            )
        elif name == "arxiv":
            sources.append(
                ArxivSource(
                    settings.arxiv_categories,
                    mode=settings.arxiv_mode,
                    api_url=settings.arxiv_api_url,
                    rss_url=settings.arxiv_rss_url,
                    http=http(name),
                    clock=clock,
                )
            )
        elif name == "feed":
            sources.append(FeedSource(settings.feeds, http=http(name), clock=clock))
        else:
            # Imported here so that this module does not need the sample data to be importable.
            from adapters.sources.sample import SampleSource

            sources.append(SampleSource(clock=clock))
    return sources
