"""The `sample` source: real paper titles and abstracts bundled with paperbot, for the demo and tests.

Ids and dates are assigned at load; upvotes are derived from the title so rankings are stable. No
network is used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from importlib import resources
from urllib.parse import quote_plus

from bot.models import Paper
from bot.ports import Clock, FetchResult, utcnow


def _digest(title: str) -> str:
    return hashlib.sha1(title.encode()).hexdigest()


def load_sample(now: datetime) -> list[Paper]:
    """The bundled papers, published over the week before `now`."""
    raw = json.loads(
        resources.files("adapters.sources").joinpath("data/seed_papers.json").read_text("utf-8")
    )
    papers = []
    for i, entry in enumerate(raw):
        title = " ".join(entry["title"].split())
        digest = _digest(title)
        papers.append(
            Paper(
                id=f"sample:{digest[:12]}",
                title=title,
                abstract=" ".join(entry["abstract"].split()),
                url=f"https://arxiv.org/search/?query={quote_plus(title)}&searchtype=title",
                upvotes=int(digest[12:16], 16) % 120,
                published=now - timedelta(hours=(i * 7) % (24 * 7)),
                sources=("sample",),
            )
        )
    return papers


class SampleSource:
    """Serves the bundled papers on every poll; storage keeps one record each."""

    name = "sample"

    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock

    async def fetch(self, since: datetime | None, cursor: Mapping[str, str]) -> FetchResult:
        """Every sample paper (the store tells new from known)."""
        return FetchResult(papers=load_sample(self.clock()), cursor={"loaded": "1"})

    async def aclose(self) -> None:
        """Nothing to release."""
