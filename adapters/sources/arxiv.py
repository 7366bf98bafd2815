"""arXiv: new submissions in the configured categories, from the RSS listing, the API, or both.

Every request to arXiv (RSS and API alike) goes through one gate: one at a time, one every
3 seconds, as arXiv's terms of use ask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from urllib.parse import quote

from adapters.sources.arxiv_parse import NAME, ApiPage, parse_api_feed, parse_rss_listing
from adapters.sources.http import ARXIV_GATE, Fetched, HttpFailure, PoliteClient
from adapters.sources.identity import arxiv_id
from adapters.sources.polling import Poll
from adapters.sources.sanitize import MalformedResponse, Parsed
from bot.models import Paper
from bot.ports import Clock, FetchResult, SourceError, utcnow

MODES = ("rss", "api", "both")
DEFAULT_API_URL = "https://export.arxiv.org/api/query"
DEFAULT_RSS_URL = "https://rss.arxiv.org/rss"
# The newest submission date the API showed at the last complete poll: the next poll pages back
# to it. Papers reach the API when announced, a day or more after submission, so a poll time
# (`since`) would be the wrong mark.
NEWEST_KEY = "arxiv:api-newest"
# Without a mark, how far back the API is read.
DEFAULT_WINDOW = timedelta(days=3)
LOOKUP_BATCH = 100


class ArxivSource:
    """arXiv submissions in `categories`. `mode` is `rss` (the day's announcements, which say
    what is new and what is a replacement), `api` (newest submissions first, paged back to the
    last poll's newest), or `both`."""

    name = NAME

    def __init__(
        self,
        categories: Sequence[str],
        *,
        mode: str = "rss",
        api_url: str = DEFAULT_API_URL,
        rss_url: str = DEFAULT_RSS_URL,
        http: PoliteClient | None = None,
        clock: Clock = utcnow,
        page_size: int = 100,
        max_pages: int = 10,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown arXiv mode {mode!r}; expected one of {', '.join(MODES)}")
        if not categories:
            raise ValueError("the arXiv source needs at least one category, e.g. cs.CV")
        self.categories = tuple(categories)
        self.mode = mode
        self._api = api_url
        self._rss = rss_url.rstrip("/")
        self._http = http or PoliteClient(NAME, clock=clock)
        self._clock = clock
        self._page_size = max(1, min(page_size, 2000))
        self._max_pages = max(1, max_pages)

    def describe(self) -> str:
        """One line for `paperbot status`."""
        where = {
            "rss": self.rss_url(),
            "api": self._api,
            "both": f"{self.rss_url()} and {self._api}",
        }
        return f"arXiv {', '.join(self.categories)} ({self.mode}: {where[self.mode]})"

    def rss_url(self) -> str:
        """The combined listing of every category."""
        return f"{self._rss}/{'+'.join(self.categories)}"

    def api_url(self, start: int) -> str:
        """One page of the newest submissions in the categories."""
        query = "+OR+".join(f"cat:{quote(c, safe='.-')}" for c in self.categories)
        return (
            f"{self._api}?search_query={query}&sortBy=submittedDate&sortOrder=descending"
            f"&start={start}&max_results={self._page_size}"
        )

    async def fetch(self, since: datetime | None, cursor: Mapping[str, str]) -> FetchResult:
        """The listing (rss), the newest submissions (api), or both, merged by id."""
        poll = Poll(NAME, self._http, cursor)
        if self.mode in ("rss", "both"):
            await poll.get(self.rss_url(), _parse_rss, gate=ARXIV_GATE)
        if self.mode in ("api", "both"):
            await self._page_api(poll, since, cursor)
        return poll.result()

    async def _page_api(
        self, poll: Poll, since: datetime | None, cursor: Mapping[str, str]
    ) -> None:
        mark = _read_mark(cursor.get(NEWEST_KEY))
        if mark is not None:
            stop = mark
        elif since is not None:
            stop = since - DEFAULT_WINDOW
        else:
            stop = self._clock() - DEFAULT_WINDOW
        newest = mark
        complete = False
        for page in range(self._max_pages):
            start = page * self._page_size
            pages: list[ApiPage] = []

            def parse(fetched: Fetched, pages: list[ApiPage] = pages) -> Parsed:
                pages.append(parse_api_feed(fetched.content))
                return _since(pages[-1].parsed, stop)

            outcome = await poll.get(self.api_url(start), parse, gate=ARXIV_GATE)
            if outcome.failed or not pages:
                # Failed, or 304: stop here; on failure the mark stays for the next poll.
                complete = not outcome.failed
                break
            got = pages[0]
            for paper in got.parsed.papers:
                if paper.published and (newest is None or paper.published > newest):
                    newest = paper.published
            if not got.parsed.complete:
                break
            reached_end = got.entries < self._page_size or (
                got.total is not None and start + got.entries >= got.total
            )
            if reached_end or (got.oldest is not None and got.oldest < stop):
                complete = True
                break
        if complete and newest is not None:
            poll.cursor[NEWEST_KEY] = newest.isoformat()
        elif mark is not None:
            poll.cursor[NEWEST_KEY] = mark.isoformat()

    async def lookup(self, ids: Sequence[str]) -> list[Paper]:
        """Papers by arXiv id (any form: `2406.12345v2`, `arXiv:...`, abs/pdf/HF links), in the
        order asked; ids arXiv does not know are left out. Raises ValueError naming an id that is
        not an arXiv id, SourceError when arXiv cannot be read."""
        wanted: list[str] = []
        for raw in ids:
            found = arxiv_id(raw)
            if found is None:
                raise ValueError(f"not an arXiv id: {raw!r} (expected e.g. 2406.12345)")
            wanted.append(found)
        wanted = list(dict.fromkeys(wanted))
        papers: dict[str, Paper] = {}
        for first in range(0, len(wanted), LOOKUP_BATCH):
            batch = wanted[first : first + LOOKUP_BATCH]
            url = f"{self._api}?id_list={','.join(batch)}&max_results={len(batch)}"
            try:
                fetched = await self._http.get(url, gate=ARXIV_GATE)
                page = parse_api_feed(fetched.content)
            except HttpFailure as exc:
                raise SourceError(f"{exc}{_api_reason(exc.body)}") from exc
            except MalformedResponse as exc:
                raise SourceError(f"{NAME}: GET {url}: unusable response: {exc}") from exc
            papers.update((p.id, p) for p in page.parsed.papers)
        return [papers[f"arxiv:{i}"] for i in wanted if f"arxiv:{i}" in papers]

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()


def _parse_rss(fetched: Fetched) -> Parsed:
    return parse_rss_listing(fetched.content)


def _since(parsed: Parsed, stop: datetime) -> Parsed:
    kept = tuple(p for p in parsed.papers if p.published is None or p.published >= stop)
    return Parsed(kept, parsed.updates, parsed.problems, parsed.complete)


def _read_mark(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        mark = datetime.fromisoformat(value)
    except ValueError:
        return None
    return mark if mark.tzinfo is not None else None


def _api_reason(body: bytes) -> str:
    # arXiv answers a bad query with HTTP 400 and an Atom feed whose one entry says why.
    try:
        parse_api_feed(body)
    except MalformedResponse as exc:
        text = str(exc)
        return f" ({text})" if text.startswith("arXiv API error") else ""
    return ""
