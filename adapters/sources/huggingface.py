"""Hugging Face Daily Papers: the curated daily list, with upvotes, as Papers."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from adapters.sources.http import Fetched, PoliteClient
from adapters.sources.identity import arxiv_abs_url, arxiv_id, arxiv_pdf_url
from adapters.sources.polling import Poll
from adapters.sources.sanitize import (
    BadEntry,
    Collector,
    MalformedResponse,
    Parsed,
    make_paper,
    parse_datetime,
)
from bot.models import Paper
from bot.ports import Clock, FetchResult, SourceError, utcnow

NAME = "huggingface"
DEFAULT_URL = "https://huggingface.co/api"
CATCH_UP_DAYS = 7  # after downtime, the lists of at most this many days back are read
_PAGE_NAME = re.compile(r"^[\w.\-]{1,100}$")
_ENTRY_ERRORS = (BadEntry, TypeError, ValueError, AttributeError, KeyError)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _entry_paper(entry: Any) -> Paper:
    if not isinstance(entry, dict):
        raise BadEntry(f"expected an object, got {type(entry).__name__}")
    paper = entry.get("paper")
    if not isinstance(paper, dict):
        raise BadEntry("no 'paper' object")
    raw_id = _text(paper.get("id"))
    if raw_id is None:
        raise BadEntry("no paper id")
    arxiv = arxiv_id(raw_id)
    if arxiv:
        pid, url, pdf = f"arxiv:{arxiv}", arxiv_abs_url(arxiv), arxiv_pdf_url(arxiv)
    elif _PAGE_NAME.match(raw_id):
        url = f"https://huggingface.co/papers/{raw_id}"
        pid, pdf = f"url:{url}", None
    else:
        raise BadEntry(f"paper id {raw_id[:60]!r} is neither an arXiv id nor a page name")
    authors = paper.get("authors")
    names = [
        a["name"]
        for a in (authors if isinstance(authors, list) else [])
        if isinstance(a, dict) and isinstance(a.get("name"), str)
    ]
    return make_paper(
        paper_id=pid,
        source=NAME,
        title=_text(paper.get("title")) or _text(entry.get("title")),
        abstract=_text(paper.get("summary")) or _text(entry.get("summary")) or "",
        authors=names,
        url=url,
        pdf_url=pdf,
        code_url=paper.get("githubRepo"),
        project_url=paper.get("projectPage"),
        upvotes=paper.get("upvotes"),
        comments=entry.get("numComments"),
        published=parse_datetime(paper.get("publishedAt"))
        or parse_datetime(entry.get("publishedAt")),
        ai_summary=paper.get("ai_summary"),
        ai_keywords=_strings(paper.get("ai_keywords")),
    )


def parse_daily_papers(data: bytes) -> Parsed:
    """Papers from the body of `GET /api/daily_papers`; raises MalformedResponse if it is not a
    JSON list. Entries of the wrong shape are dropped and named in `problems`."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise MalformedResponse(f"not JSON ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(doc, list):
        raise MalformedResponse(f"expected a JSON list of papers, got {type(doc).__name__}")
    found = Collector()
    for index, entry in enumerate(doc):
        where = f"entry {index}"
        try:
            found.add(_entry_paper(entry), where)
        except _ENTRY_ERRORS as exc:
            found.reject(where, str(exc))
    return found.result()


def _parse(fetched: Fetched) -> Parsed:
    return parse_daily_papers(fetched.content)


def by_upvotes(papers: list[Paper]) -> list[Paper]:
    """Most upvoted first; ties keep the list's own order."""
    return sorted(papers, key=lambda p: -(p.upvotes or 0))


class HuggingFaceSource:
    """Hugging Face Daily Papers: each poll reads today's and yesterday's lists (UTC) in full,
    since a day's list grows during the day and upvotes change."""

    name = NAME

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        http: PoliteClient | None = None,
        clock: Clock = utcnow,
        days: int = 2,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._http = http or PoliteClient(NAME, clock=clock)
        self._clock = clock
        self._days = max(1, days)

    def describe(self) -> str:
        """One line for `paperbot status`."""
        return f"Hugging Face Daily Papers at {self._base} (today and yesterday, UTC)"

    def day_url(self, day: date) -> str:
        """The list of one day."""
        return f"{self._base}/daily_papers?date={day.isoformat()}"

    async def fetch(self, since: datetime | None, cursor: Mapping[str, str]) -> FetchResult:
        """Today's and yesterday's lists (they are small and change), and after downtime every
        day's back to the last poll that succeeded (at most CATCH_UP_DAYS)."""
        today = self._clock().date()
        days = self._days
        if since is not None:  # the day of the last success too: its list grew after it
            days = max(days, min((today - since.date()).days + 1, CATCH_UP_DAYS))
        poll = Poll(NAME, self._http, cursor)
        for back in range(days):
            await poll.get(self.day_url(today - timedelta(days=back)), _parse)
        return poll.result()

    async def trending(self, day: date | None = None) -> list[Paper]:
        """One day's list (default today, UTC), most upvoted first; raises SourceError."""
        url = self.day_url(day or self._clock().date())
        fetched = await self._http.get(url)
        try:
            parsed = parse_daily_papers(fetched.content)
        except MalformedResponse as exc:
            raise SourceError(f"{NAME}: GET {url}: unusable response: {exc}") from exc
        return by_upvotes(list(parsed.papers))

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()
