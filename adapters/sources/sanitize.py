"""Turning what a source sent into bounded, plain-text Papers, and counting what had to be dropped."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from bot.inbound import clean
from bot.models import Paper

# What one paper may hold once stored; longer values are cut, extra items dropped.
MAX_TITLE = 1_000
MAX_ABSTRACT = 20_000
MAX_AUTHORS = 100
MAX_AUTHOR = 200
MAX_CATEGORIES = 30
MAX_CATEGORY = 50
MAX_KEYWORDS = 50
MAX_KEYWORD = 100
MAX_SUMMARY = 2_000
MAX_URL = 2_000
MAX_COUNT = 2**31 - 1  # fits a PostgreSQL integer

# Only real HTML tags are removed, with strict syntax, so that `$a<b$ and $c>d$` in an
# abstract survives while `<p>`, `<i class="x">` or `</sub>` go. Tags inside a line of text go
# without a trace (`CO<sub>2</sub>` is `CO2`); tags that break lines or make blocks leave a space.
_INLINE = (
    "a|abbr|b|bdi|bdo|big|cite|code|data|del|dfn|em|font|i|ins|kbd|mark|q|s|samp|sc|small|span"
    "|strike|strong|sub|sup|time|tt|u|var|wbr|math|mi|mo|mn|ms|mrow|msub|msup|msubsup|mfrac|msqrt"
    "|mroot|mtext|mspace|semantics|annotation|jats:italic|jats:bold|jats:sub|jats:sup|jats:sc"
    "|jats:monospace|jats:inline-formula|jats:underline"
)
_BLOCKS = (
    "address|article|aside|blockquote|br|caption|center|dd|details|div|dl|dt|figcaption|figure"
    "|footer|h[1-6]|header|hr|img|li|main|nav|ol|p|pre|section|summary|table|tbody|td|tfoot|th"
    "|thead|tr|ul|jats:p|jats:title|jats:sec|jats:abstract|jats:list|jats:list-item"
)
_INLINE_TAG = re.compile(rf"</?(?:{_INLINE})(?:\s+[^<>]*?)?\s*/?>", re.IGNORECASE)
_BLOCK_TAG = re.compile(rf"</?(?:{_BLOCKS})(?:\s+[^<>]*?)?\s*/?>", re.IGNORECASE)
_DROP_BLOCKS = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
_SPACE = re.compile(r"\s+")


class MalformedResponse(ValueError):
    """A whole response that is not what it should be (not a feed, not JSON of the right shape)."""


class BadEntry(ValueError):
    """One entry that cannot become a Paper (no title, no id...): dropped and counted."""


def plain_text(value: object, limit: int | None = None) -> str:
    """Text as stored: HTML tags removed, entities unescaped, whitespace collapsed, cut at `limit`."""
    if not isinstance(value, str):
        return ""
    text = _DROP_BLOCKS.sub(" ", value)
    text = _COMMENT.sub(" ", text)
    text = _BLOCK_TAG.sub(" ", text)
    text = _INLINE_TAG.sub("", text)
    text = html.unescape(text)
    text = clean(_CONTROL.sub("", text))
    text = _SPACE.sub(" ", text).strip()
    return cut(text, limit) if limit else text


def cut(text: str, limit: int) -> str:
    """`text` no longer than `limit` characters, ending in an ellipsis when it was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def web_url(value: object) -> str | None:
    """An http(s) URL safe to link to, or None (no `javascript:`, no spaces, not absurdly long)."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if (
        len(url) > MAX_URL
        or clean(url) != url
        or not re.match(r"^https?://[^\s/?#]+[^\s<>\"]*$", url, re.IGNORECASE)
    ):
        return None
    return url


def count(value: object) -> int | None:
    """A count (upvotes, comments) in 0..MAX_COUNT, or None for anything else (bools, strings...)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        return None
    return value


def split_authors(text: str) -> list[str]:
    """Authors from one string: `A; B`, or `Jane Doe, John Roe and Ann Poe` (not `Doe, J.`)."""
    text = plain_text(text)
    if not text:
        return []
    if ";" in text:
        return [part.strip() for part in text.split(";") if part.strip()]
    text = re.sub(r",?\s+and\s+(?=\S+\s)", ", ", text)
    parts = [part.strip() for part in text.split(",") if part.strip()]
    # `Doe, J.` is one author written surname first; full names all hold a space.
    if len(parts) > 1 and all(" " in part for part in parts):
        return parts
    return [text]


def parse_datetime(value: object) -> datetime | None:
    """An aware UTC datetime from ISO 8601 or RFC 822 text, or None if it is neither."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _distinct(values: list[str], limit: int, item_limit: int) -> tuple[str, ...]:
    cleaned = (plain_text(v, item_limit) for v in values)
    return tuple(dict.fromkeys(v for v in cleaned if v))[:limit]


def make_paper(
    *,
    paper_id: str,
    title: object,
    source: str,
    abstract: object = "",
    authors: list[str] | tuple[str, ...] = (),
    url: object = None,
    pdf_url: object = None,
    code_url: object = None,
    project_url: object = None,
    categories: list[str] | tuple[str, ...] = (),
    upvotes: object = None,
    comments: object = None,
    published: datetime | None = None,
    ai_summary: object = None,
    ai_keywords: list[str] | tuple[str, ...] = (),
) -> Paper:
    """A Paper with every field cleaned and bounded; raises BadEntry when it has no title."""
    paper_id = clean(paper_id)
    clean_title = plain_text(title, MAX_TITLE)
    if not clean_title:
        raise BadEntry(f"{paper_id}: no title")
    summary = plain_text(ai_summary, MAX_SUMMARY)
    return Paper(
        id=paper_id,
        title=clean_title,
        abstract=plain_text(abstract, MAX_ABSTRACT),
        authors=_distinct(list(authors), MAX_AUTHORS, MAX_AUTHOR),
        url=web_url(url) or "",
        pdf_url=web_url(pdf_url),
        code_url=web_url(code_url),
        project_url=web_url(project_url),
        categories=_distinct(list(categories), MAX_CATEGORIES, MAX_CATEGORY),
        upvotes=count(upvotes),
        comments=count(comments),
        published=published,
        sources=(source,),
        ai_summary=summary or None,
        ai_keywords=_distinct(list(ai_keywords), MAX_KEYWORDS, MAX_KEYWORD),
    )


@dataclass(frozen=True)
class Parsed:
    """What one response held: new papers, updates of known ones, and what was dropped and why.

    `complete` is false when the document was cut short: its validators must not be kept, or the
    next conditional request would be answered 304 and the lost entries never seen.
    """

    papers: tuple[Paper, ...] = ()
    updates: tuple[Paper, ...] = ()
    problems: tuple[str, ...] = ()
    complete: bool = True

    @property
    def bad(self) -> int:
        """How many entries (or truncated tails) were dropped."""
        return len(self.problems)


@dataclass
class Collector:
    """Gathers one response's entries: the first sighting of an id wins, repeats are dropped."""

    papers: dict[str, Paper] = field(default_factory=dict)
    updates: dict[str, Paper] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, paper: Paper, where: str, *, update: bool = False) -> None:
        """Keep `paper` (as an update of a known record when `update`), unless already seen."""
        if paper.id in self.papers or paper.id in self.updates:
            self.problems.append(f"{where}: {paper.id} appears twice; kept the first")
            return
        (self.updates if update else self.papers)[paper.id] = paper

    def reject(self, where: str, reason: str) -> None:
        """Count one dropped entry."""
        self.problems.append(f"{where}: {reason}")

    def result(self, *, complete: bool = True) -> Parsed:
        """The response's Parsed."""
        return Parsed(
            papers=tuple(self.papers.values()),
            updates=tuple(self.updates.values()),
            problems=tuple(self.problems),
            complete=complete,
        )
