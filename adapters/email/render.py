"""A digest as an email: subject, plain-text part and HTML part (Jinja2, autoescaped). Pure.

Paper text reaches the templates as plain strings, cut into (text, matched) pieces by the
neutral helpers in bot/delivery/render.py; the HTML template escapes every one of them, so a
title such as `<script>alert(1)</script>` shows as text. Only http(s) links become hrefs.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.delivery.render import first_authors, first_sentence, paper_links, sentence_hits, spans
from bot.models import Digest, Match

SENTENCE_LIMIT = 300
SUBJECT_TERMS = 2  # matched terms named in the subject before "and more"
_HTTP_URL = re.compile(r"^https?://[^\s<>\"']+$")

_env = Environment(
    loader=PackageLoader("adapters.email", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class EmailPaper:
    """One paper as the templates show it."""

    number: int
    title: tuple[tuple[str, bool], ...]  # pieces: (text, matched term)
    url: str | None
    authors: str
    upvotes: int | None
    sentence: tuple[tuple[str, bool], ...]
    links: tuple[tuple[str, str], ...]
    terms: tuple[str, ...]

    @property
    def plain_title(self) -> str:
        """The title with matched terms in *asterisks*, for the text part."""
        return "".join(f"*{t}*" if hit else t for t, hit in self.title)

    @property
    def plain_sentence(self) -> str:
        """The first sentence, likewise."""
        return "".join(f"*{t}*" if hit else t for t, hit in self.sentence)


@dataclass(frozen=True)
class EmailContent:
    """What one digest email says."""

    subject: str
    text: str
    html: str


def safe_url(url: str | None) -> str | None:
    """`url` if it is a plain http(s) link (no `javascript:`, no spaces), else None."""
    return url if url and len(url) <= 2048 and _HTTP_URL.match(url) else None


def email_paper(number: int, match: Match) -> EmailPaper:
    """A Match as the templates need it."""
    paper = match.paper
    title = " ".join(paper.title.split()) or paper.id
    hits = match.hits if title == paper.title else ()  # offsets hold only on the original text
    sentence = first_sentence(paper.abstract, SENTENCE_LIMIT)
    return EmailPaper(
        number=number,
        title=tuple(spans(title, hits, "title")),
        url=safe_url(paper.url),
        authors=first_authors(paper.authors),
        upvotes=paper.upvotes,
        sentence=tuple(spans(sentence, sentence_hits(match, sentence), "abstract")),
        links=tuple((label, url) for label, url in paper_links(paper) if safe_url(url)),
        terms=match.terms,
    )


def subject(page: Digest, when: datetime) -> str:
    """`5 new papers on diffusion · Mon 7 Dec` (the most matched terms, the digest's date)."""
    n = len(page.items) + page.more
    counts = Counter(t for m in page.items for t in m.terms)
    terms = [t for t, _ in counts.most_common(SUBJECT_TERMS + 1)]
    if len(terms) > SUBJECT_TERMS:
        topic = f" on {', '.join(terms[:SUBJECT_TERMS])} and more"
    elif terms:
        topic = " on " + " and ".join(terms)
    else:
        topic = ""
    return f"{n} new paper{'' if n == 1 else 's'}{topic} · {when:%a} {when.day} {when:%b}"


def render_email(
    page: Digest,
    when: datetime,
    *,
    address: str,
    unsubscribe_url: str,
    plain: bool = False,
) -> EmailContent:
    """The subject and both parts of a digest email (`plain`: the text part's content only is
    needed; the HTML is still rendered, and the caller leaves it out)."""
    papers = [email_paper(n, m) for n, m in enumerate(page.items, 1)]
    values = {
        "title": page.title,
        "subject": subject(page, when),
        "papers": papers,
        "more": page.more,
        "period": page.period,  # "this week" for a weekly digest
        "address": address,
        "unsubscribe_url": unsubscribe_url,
    }
    text = _env.get_template("digest.txt").render(values)
    html = "" if plain else _env.get_template("digest.html").render(values)
    return EmailContent(values["subject"], text, html)  # type: ignore[arg-type]
