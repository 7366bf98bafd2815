"""Pure parsers for arXiv's two formats: the API's Atom feed and the RSS announcement listing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import Element

from adapters.sources.identity import arxiv_abs_url, arxiv_id, arxiv_pdf_url
from adapters.sources.safexml import scan
from adapters.sources.sanitize import (
    BadEntry,
    Collector,
    MalformedResponse,
    Parsed,
    make_paper,
    parse_datetime,
    split_authors,
)
from bot.models import Paper

NAME = "arxiv"
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
DC = "{http://purl.org/dc/elements/1.1/}"
_ENTRY_ERRORS = (BadEntry, TypeError, ValueError, AttributeError)
# RSS item description: "arXiv:2509.13332v1 Announce Type: new \nAbstract: As Large ..."
_DESCRIPTION = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?(?P<abstract>.*)$",
    re.DOTALL,
)
UPDATE_TYPES = frozenset({"replace", "replace-cross"})
NEW_TYPES = frozenset({"new", "cross"})


def _text(elem: Element | None, path: str) -> str:
    found = elem.find(path) if elem is not None else None
    return (found.text or "").strip() if found is not None else ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass(frozen=True)
class ApiPage:
    """One page of API results: its papers, how many entries it held (good or bad), the total the
    query matches, and the oldest submission date on the page (for paging back to a date)."""

    parsed: Parsed
    entries: int
    total: int | None
    oldest: datetime | None


def _api_paper(entry: Element) -> Paper:
    raw_id = _text(entry, f"{ATOM}id")
    arxiv = arxiv_id(raw_id)
    if arxiv is None:
        raise BadEntry(f"no arXiv id (id {raw_id[:80]!r})")
    primary = entry.find(f"{ARXIV}primary_category")
    categories = [primary.get("term", "")] if primary is not None else []
    categories += [c.get("term", "") for c in entry.findall(f"{ATOM}category")]
    return make_paper(
        paper_id=f"arxiv:{arxiv}",
        source=NAME,
        title=_text(entry, f"{ATOM}title"),
        abstract=_text(entry, f"{ATOM}summary"),
        authors=[_text(a, f"{ATOM}name") for a in entry.findall(f"{ATOM}author")],
        url=arxiv_abs_url(arxiv),
        pdf_url=arxiv_pdf_url(arxiv),
        categories=categories,
        published=parse_datetime(_text(entry, f"{ATOM}published")),
    )


def _api_error(entries: tuple[Element, ...]) -> str | None:
    for entry in entries:
        if "/api/errors" in _text(entry, f"{ATOM}id"):
            return _text(entry, f"{ATOM}summary") or "unknown error"
    return None


def parse_api_feed(data: bytes) -> ApiPage:
    """A page of `export.arxiv.org/api/query` results (Atom). Raises MalformedResponse when it is
    not an Atom feed, holds nothing readable, or is arXiv's error feed."""
    doc = scan(data, frozenset({f"{ATOM}entry", f"{OPENSEARCH}totalResults"}))
    if doc.root != f"{ATOM}feed":
        raise MalformedResponse(f"not an Atom feed (root element <{_local(doc.root)}>)")
    entries = tuple(e for e in doc.elements if e.tag == f"{ATOM}entry")
    if error := _api_error(entries):
        raise MalformedResponse(f"arXiv API error: {error}")
    totals = [e for e in doc.elements if e.tag == f"{OPENSEARCH}totalResults"]
    total = int(totals[0].text) if totals and (totals[0].text or "").strip().isdigit() else None
    if doc.error and not entries:
        raise MalformedResponse(doc.error)
    found = Collector()
    dates: list[datetime] = []
    for index, entry in enumerate(entries):
        where = f"entry {index}"
        # The page's reach back in time counts every entry, good or bad.
        if published := parse_datetime(_text(entry, f"{ATOM}published")):
            dates.append(published)
        try:
            found.add(_api_paper(entry), where)
        except _ENTRY_ERRORS as exc:
            found.reject(where, str(exc))
    if doc.error:
        found.reject(f"after entry {len(entries) - 1}", doc.error)
    return ApiPage(
        parsed=found.result(complete=doc.error is None),
        entries=len(entries),
        total=total,
        oldest=min(dates) if dates else None,
    )


def _rss_item(item: Element) -> tuple[Paper, bool]:
    description = _text(item, "description")
    m = _DESCRIPTION.match(description)
    guid = _text(item, "guid")
    link = _text(item, "link")
    arxiv = arxiv_id(guid, bare=False) or arxiv_id(link, bare=False)
    arxiv = arxiv or (arxiv_id(m["id"]) if m else None)
    if arxiv is None:
        raise BadEntry(f"no arXiv id (guid {guid[:80]!r}, link {link[:80]!r})")
    announce = _text(item, f"{ARXIV}announce_type") or (m["type"] if m else "new")
    paper = make_paper(
        paper_id=f"arxiv:{arxiv}",
        source=NAME,
        title=_text(item, "title"),
        abstract=m["abstract"] if m else description,
        authors=split_authors(_text(item, f"{DC}creator")),
        url=arxiv_abs_url(arxiv),
        pdf_url=arxiv_pdf_url(arxiv),
        categories=[(c.text or "").strip() for c in item.findall("category")],
        published=parse_datetime(_text(item, "pubDate")),
    )
    return paper, announce.lower() in UPDATE_TYPES


def parse_rss_listing(data: bytes) -> Parsed:
    """The day's announcements from `rss.arxiv.org/rss/<categories>`: new and cross-listed papers
    in `papers`, replacements in `updates` (to merge, never to announce again)."""
    doc = scan(data, frozenset({"item"}))
    if doc.root != "rss":
        raise MalformedResponse(f"not an RSS listing (root element <{_local(doc.root)}>)")
    if doc.error and not doc.elements:
        raise MalformedResponse(doc.error)
    found = Collector()
    for index, item in enumerate(doc.elements):
        where = f"item {index}"
        try:
            paper, update = _rss_item(item)
        except _ENTRY_ERRORS as exc:
            found.reject(where, str(exc))
            continue
        found.add(paper, where, update=update)
    if doc.error:
        found.reject(f"after item {len(doc.elements) - 1}", doc.error)
    return found.result(complete=doc.error is None)
