"""Papers and matches for the Slack tests, with hits found the way the matcher reports them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.models import ChannelRef, Digest, Hit, Match, Paper

CHANNEL = ChannelRef("slack", "T0STANDIN", "C0PAPERS")

DIFFUSION_ABSTRACT = (
    "We present a latent diffusion model that generates temporally coherent video from text. "
    "Our approach factorises space and time and trains on 10M clips. "
    "Experiments show state-of-the-art FVD on UCF-101."
)


def paper(
    n: int = 1,
    *,
    title: str = "Fast Diffusion Models for Video Generation",
    abstract: str = DIFFUSION_ABSTRACT,
    authors: tuple[str, ...] = ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"),
    upvotes: int | None = 42,
    code_url: str | None = "https://github.com/example/fast-diffusion",
) -> Paper:
    """A realistic paper numbered `n` (its arXiv id and links follow from `n`)."""
    arxiv = f"2406.{12345 + n:05d}"
    return Paper(
        id=f"arxiv:{arxiv}",
        title=title,
        abstract=abstract,
        authors=authors,
        url=f"https://arxiv.org/abs/{arxiv}",
        pdf_url=f"https://arxiv.org/pdf/{arxiv}",
        code_url=code_url,
        upvotes=upvotes,
        published=datetime(2026, 1, 5, tzinfo=UTC),
        sources=("arxiv",),
    )


def match(p: Paper, *terms: str) -> Match:
    """`p` matched by `terms`: a Hit for every whole-word occurrence in its title and abstract."""
    hits = []
    for term in terms:
        pattern = re.compile(rf"\b{re.escape(term)}s?\b", re.IGNORECASE)
        for field, text in (("title", p.title), ("abstract", p.abstract)):
            hits.extend(Hit(field, term, m.start(), m.end()) for m in pattern.finditer(text))
    return Match(paper=p, subscription_ids=(1,), hits=tuple(hits))


def digest(matches: list[Match], more: int = 0, title: str = "New papers") -> Digest:
    """A one-page digest for CHANNEL."""
    return Digest(channel=CHANNEL, items=tuple(matches), more=more, title=title)
