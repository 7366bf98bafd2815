"""Any RSS 0.9x/1.0/2.0 or Atom feed an operator lists (journals, bioRxiv, blogs), via feedparser."""

from __future__ import annotations

import io
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import feedparser
from feedparser.exceptions import ThingsNobodyCaresAboutButMe

from adapters.sources.http import Fetched, PoliteClient
from adapters.sources.identity import arxiv_abs_url, arxiv_pdf_url, canonical_id
from adapters.sources.polling import Parse, Poll
from adapters.sources.safexml import readable, refuse_entities
from adapters.sources.sanitize import (
    BadEntry,
    Collector,
    MalformedResponse,
    Parsed,
    make_paper,
    split_authors,
    web_url,
)
from bot.models import Paper
from bot.ports import Clock, FetchResult, utcnow

NAME = "feed"
_ENTRY_ERRORS = (BadEntry, TypeError, ValueError, AttributeError, KeyError)
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)


def _when(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            try:
                return datetime(*value[:6], tzinfo=UTC)
            except ValueError:
                continue
    return None


def _str(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    return value.strip() if isinstance(value, str) else ""


def _entry_paper(entry: Mapping[str, Any], feed_url: str) -> Paper:
    guid, link = _str(entry, "id"), _str(entry, "link")
    doi = _str(entry, "prism_doi") or _str(entry, "dc_identifier")
    pid = canonical_id(doi=doi, guid=guid, link=link, scope=feed_url)
    if pid is None:
        raise BadEntry("no guid, link or DOI")
    links = entry.get("links") or []
    pdf = next(
        (
            x.get("href")
            for x in links
            if isinstance(x, dict) and x.get("type") == "application/pdf"
        ),
        None,
    )
    url = web_url(link) or web_url(guid)
    if pid.startswith("arxiv:"):
        # The same links whichever source saw an arXiv paper: the versionless abstract and PDF.
        arxiv = pid.removeprefix("arxiv:")
        url, pdf = arxiv_abs_url(arxiv), arxiv_pdf_url(arxiv)
    content = entry.get("content") or []
    abstract = _str(entry, "summary") or next(
        (c.get("value", "") for c in content if isinstance(c, dict)), ""
    )
    authors = [
        name
        for a in entry.get("authors") or []
        if isinstance(a, dict)
        for name in split_authors(a.get("name") or "")
    ]
    return make_paper(
        paper_id=pid,
        source=NAME,
        title=_str(entry, "title"),
        abstract=abstract,
        authors=authors,
        url=url,
        pdf_url=pdf,
        categories=[t.get("term") or "" for t in entry.get("tags") or [] if isinstance(t, dict)],
        published=_when(entry),
    )


def parse_feed(data: bytes, url: str, content_type: str = "") -> Parsed:
    """Papers from the bytes of an RSS or Atom feed fetched from `url`.

    Raises MalformedResponse for a document that declares XML entities (refused before
    feedparser sees it) or that is not a feed at all (an HTML error page, JSON...). A feed broken
    part-way is read leniently: its complete entries are kept and the break is counted.
    """
    data = readable(data)
    refuse_entities(data)
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    # Bytes wrapped in a stream: feedparser treats a bare string as a URL or a file name.
    # No HTML rewriting by feedparser (sanitizing, resolving links): its HTML parser takes
    # `<b$ and $c>` in `$a<b$ and $c>d$` for a tag and drops it. Only plain text is kept
    # (sanitize.plain_text), so no markup reaches a chat either way.
    doc = feedparser.parse(
        io.BytesIO(data),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    error = doc.get("bozo_exception") if doc.get("bozo") else None
    benign = isinstance(error, ThingsNobodyCaresAboutButMe) or (
        # HTML entities (&nbsp;) that XML does not define: the lenient reading resolves them,
        # and a document that ends where a feed ends was read whole.
        "undefined entity" in str(error) and _ends_whole(data)
    )
    if not doc.get("version") and not doc.entries:
        reason = f" ({error})" if error and not benign else ""
        raise MalformedResponse(f"not an RSS or Atom feed{reason}")
    found = Collector()
    for index, entry in enumerate(doc.entries):
        where = f"entry {index}"
        try:
            found.add(_entry_paper(entry, url), where)
        except _ENTRY_ERRORS as exc:
            found.reject(where, str(exc))
    broken = error is not None and not benign
    if broken:
        found.reject("feed", f"XML is broken ({error}); read leniently")
    return found.result(complete=not broken)


def _ends_whole(data: bytes) -> bool:
    """Whether the document ends with a feed's closing tag (it was not cut short)."""
    return data.rstrip().endswith((b"</rss>", b"</feed>", b"</rdf:RDF>", b"</RDF>"))


class FeedSource:
    """Every feed in `urls`, each fetched conditionally; a failing feed does not stop the others."""

    name = NAME

    def __init__(
        self, urls: Sequence[str], *, http: PoliteClient | None = None, clock: Clock = utcnow
    ) -> None:
        if not urls:
            raise ValueError("the feed source needs at least one feed URL (PAPERBOT_FEEDS)")
        self.urls = tuple(dict.fromkeys(urls))
        self._http = http or PoliteClient(NAME, clock=clock)

    def describe(self) -> str:
        """One line for `paperbot status`."""
        return f"{len(self.urls)} feed(s): {', '.join(self.urls)}"

    async def fetch(self, since: datetime | None, cursor: Mapping[str, str]) -> FetchResult:
        """Every entry each feed currently lists; `since` is not used (feeds keep a few days)."""
        poll = Poll(NAME, self._http, cursor)
        for url in self.urls:
            await poll.get(url, _parser(url), accept=_ACCEPT)
        return poll.result(by_url=True)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()


def _parser(url: str) -> Parse:
    def parse(fetched: Fetched) -> Parsed:
        return parse_feed(fetched.content, url, fetched.content_type)

    return parse
