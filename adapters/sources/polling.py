"""One poll of a source: its requests, what each brought, and the FetchResult they add up to."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from adapters.sources.http import (
    Fetched,
    HttpFailure,
    PoliteClient,
    validator_keys,
    validators_of,
)
from adapters.sources.sanitize import MalformedResponse, Parsed
from bot.models import Paper
from bot.ports import FetchResult, SourceError

log = logging.getLogger(__name__)

# A parse step sees the whole answer: feeds need its Content-Type to know their encoding.
Parse = Callable[[Fetched], Parsed]


@dataclass(frozen=True)
class Outcome:
    """How one request went: `parsed` is None when it failed, empty when it was answered 304."""

    parsed: Parsed | None
    not_modified: bool = False

    @property
    def failed(self) -> bool:
        """Nothing usable came back."""
        return self.parsed is None


class Poll:
    """Collects the requests of one `fetch`: papers merged across responses, validators for the
    next poll, entries and responses dropped (logged with the source and URL, and counted)."""

    def __init__(self, source: str, http: PoliteClient, cursor: Mapping[str, str]) -> None:
        self.source = source
        self._http = http
        self._old = cursor
        self.cursor: dict[str, str] = {}
        self._papers: dict[str, Paper] = {}
        self._updates: dict[str, Paper] = {}
        self.bad = 0
        self._requests = 0
        self._unchanged = 0
        self._failures: list[str] = []
        self._by_url: dict[str, str | None] = {}  # None: answered; else why it failed

    async def get(
        self, url: str, parse: Parse, *, gate: str | None = None, accept: str | None = None
    ) -> Outcome:
        """Fetch and parse `url` conditionally; a failure is recorded here, not raised."""
        self._requests += 1
        try:
            fetched = await self._http.get(url, validators=self._old, gate=gate, accept=accept)
        except HttpFailure as exc:
            self.fail(url, str(exc))
            return Outcome(None)
        except (ValueError, httpx.InvalidURL) as exc:  # a URL that cannot be requested at all
            self.fail(url, f"{self.source}: GET {url}: not a usable URL ({exc})")
            return Outcome(None)
        self._by_url.setdefault(url, None)
        if fetched.not_modified:
            self._unchanged += 1
            for key in validator_keys(url):
                if key in self._old:
                    self.cursor[key] = self._old[key]
            return Outcome(Parsed(), not_modified=True)
        try:
            # In a thread: a feed of megabytes takes seconds to parse, and the event loop has
            # commands to acknowledge meanwhile.
            parsed = await asyncio.to_thread(parse, fetched)
        except MalformedResponse as exc:
            self.fail(url, f"{self.source}: GET {url}: unusable response: {exc}")
            return Outcome(None)
        except Exception as exc:
            # Bytes from the network reached a parser (ours or feedparser) in a way nobody
            # foresaw: log the traceback so it gets fixed, and let the other requests go on.
            log.exception("%s: GET %s: parsing failed", self.source, url)
            self.fail(url, f"{self.source}: GET {url}: parsing failed ({type(exc).__name__})")
            return Outcome(None)
        self.add(parsed, url)
        if parsed.complete:
            self.cursor.update(validators_of(fetched))
        return Outcome(parsed)

    def add(self, parsed: Parsed, url: str) -> None:
        """Take in one response's papers; a paper seen in two responses is merged."""
        for problem in parsed.problems:
            log.warning("%s: dropped from %s: %s", self.source, url, problem)
        self.bad += parsed.bad
        for paper in parsed.papers:
            self._keep(self._papers, paper)
        for paper in parsed.updates:
            self._keep(self._updates, paper)

    @staticmethod
    def _keep(store: dict[str, Paper], paper: Paper) -> None:
        known = store.get(paper.id)
        store[paper.id] = known.merged_with(paper) if known else paper

    def fail(self, url: str, message: str) -> None:
        """Record a request that brought nothing usable (counted as one bad response)."""
        log.warning("%s", message)
        self._failures.append(message)
        self._by_url[url] = (
            message.removeprefix(f"{self.source}: GET {url}").lstrip(": ").removeprefix("failed: ")
        )
        self.bad += 1

    @property
    def failures(self) -> list[str]:
        """The failed requests' messages, in order."""
        return list(self._failures)

    def result(self, *, by_url: bool = False) -> FetchResult:
        """The poll's FetchResult; raises SourceError when every request failed. With `by_url`,
        how each URL went is reported too (FetchResult.urls, SourceError.urls)."""
        urls = dict(self._by_url) if by_url else {}
        if self._failures and len(self._failures) == self._requests:
            raise SourceError("; ".join(self._failures), urls)
        # A paper the source says is a replacement stays an update even if another request
        # listed it plainly: it must not be announced as new.
        updates = dict(self._updates)
        for pid, paper in self._papers.items():
            if pid in updates:
                updates[pid] = paper.merged_with(updates[pid])
        return FetchResult(
            papers=[p for pid, p in self._papers.items() if pid not in updates],
            updates=list(updates.values()),
            cursor=self.cursor,
            bad_entries=self.bad,
            not_modified=self._requests > 0 and self._unchanged == self._requests,
            urls=urls,
        )
