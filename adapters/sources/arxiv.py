"""arXiv: new submissions in the configured categories, from the RSS listing, the API, or both.

Every request to arXiv (RSS and API alike) goes through one gate: one at a time, one every
3 seconds, as arXiv's terms of use ask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
# Submissions between two times that a poll stopped short of (its page cap), read by the next.
GAP_KEY = "arxiv:api-gap"
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

    def api_url(self, start: int, between: tuple[datetime, datetime] | None = None) -> str:
        """One page of the newest submissions in the categories (submitted `between` two times,
        inclusive, when given)."""
        query = "+OR+".join(f"cat:{quote(c, safe='.-')}" for c in self.categories)
        if between is not None:
            low, high = (t.astimezone(UTC).strftime("%Y%m%d%H%M") for t in between)
            query = f"%28{query}%29+AND+submittedDate:[{low}+TO+{high}]"
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
        """Newest first, back to the last poll's newest submission. When the page cap stops a
        poll short of it (a backlog after downtime), the mark still moves to the newest, and
        the stretch not yet read is kept in the cursor and read by the next polls, oldest gap
        first in what pages remain."""
        mark = _read_mark(cursor.get(NEWEST_KEY))
        gap = _read_gap(cursor.get(GAP_KEY))
        if mark is not None:
            stop = mark
        elif since is not None:
            stop = since - DEFAULT_WINDOW
        else:
            stop = self._clock() - DEFAULT_WINDOW
        budget = self._max_pages
        top = await self._read_back(poll, stop, None, budget)
        budget -= top.pages
        if top.state == "failed":  # the next poll pages back over the same stretch again
            _keep(poll.cursor, mark, gap)
            return
        mark = top.newest or mark
        if top.state == "capped":  # the part from `stop` to what was read waits its turn
            low = min(stop, gap[0]) if gap else stop
            gap = (low, top.oldest or stop)
        elif gap and budget > 0:
            rest = await self._read_back(poll, gap[0], gap, budget)
            if rest.state == "complete":
                gap = None
            elif rest.state == "capped" and rest.oldest is not None:
                gap = (gap[0], rest.oldest)
        _keep(poll.cursor, mark, gap)

    async def _read_back(
        self,
        poll: Poll,
        stop: datetime,
        between: tuple[datetime, datetime] | None,
        budget: int,
    ) -> _ReadBack:
        """Pages of the newest submissions (or of those `between` two times), until one older
        than `stop`, the end of the results, or `budget` pages."""
        newest: datetime | None = None
        oldest: datetime | None = None
        for page in range(budget):
            start = page * self._page_size
            pages: list[ApiPage] = []

            def parse(fetched: Fetched, pages: list[ApiPage] = pages) -> Parsed:
                pages.append(parse_api_feed(fetched.content))
                return _since(pages[-1].parsed, stop)

            outcome = await poll.get(self.api_url(start, between), parse, gate=ARXIV_GATE)
            if outcome.failed:
                return _ReadBack("failed", page + 1, newest, oldest)
            if not pages:  # 304: nothing new
                return _ReadBack("complete", page + 1, newest, oldest)
            got = pages[0]
            for paper in got.parsed.papers:
                if paper.published:
                    newest = max(newest or paper.published, paper.published)
                    oldest = min(oldest or paper.published, paper.published)
            if not got.parsed.complete:
                return _ReadBack("failed", page + 1, newest, oldest)
            if got.oldest is not None and got.oldest < stop:
                return _ReadBack("complete", page + 1, newest, oldest)
            if got.total is None:
                if got.entries < self._page_size:
                    return _ReadBack("complete", page + 1, newest, oldest)
            elif start + got.entries >= got.total:
                return _ReadBack("complete", page + 1, newest, oldest)
            elif got.entries < self._page_size:
                # A short page while the total says more remain: arXiv's API does this at times.
                # Not the end: the next poll reads this stretch again.
                return _ReadBack("failed", page + 1, newest, oldest)
        return _ReadBack("capped", budget, newest, oldest)

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


@dataclass(frozen=True)
class _ReadBack:
    """How paging back went: `complete` (reached the stop or the end), `capped` (out of pages),
    or `failed`; pages used, and the newest and oldest submissions read."""

    state: str
    pages: int
    newest: datetime | None
    oldest: datetime | None


def _keep(
    cursor: dict[str, str], mark: datetime | None, gap: tuple[datetime, datetime] | None
) -> None:
    if mark is not None:
        cursor[NEWEST_KEY] = mark.isoformat()
    if gap is not None:
        cursor[GAP_KEY] = f"{gap[0].isoformat()}/{gap[1].isoformat()}"


def _read_gap(value: str | None) -> tuple[datetime, datetime] | None:
    low, _, high = (value or "").partition("/")
    first, last = _read_mark(low), _read_mark(high)
    return (first, last) if first and last and first <= last else None


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
