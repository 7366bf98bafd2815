"""Platform-neutral pieces of a rendered paper: first authors, first sentence, highlighted spans.

Every chat adapter builds its own markup from these, so all platforms say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from bot.models import Hit, Match, Paper

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "etc.", "vs.", "cf.", "Fig.", "Eq.", "approx.")


def first_authors(authors: Iterable[str], n: int = 3) -> str:
    """`A, B, C et al.` for long lists, `A and B` for two, '' for none."""
    names = [a for a in authors if a]
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    if len(names) <= n:
        return ", ".join(names[:-1]) + f" and {names[-1]}"
    return ", ".join(names[:n]) + " et al."


@lru_cache(maxsize=4096)
def first_sentence(text: str, limit: int = 300) -> str:
    """The abstract's first sentence, cut at `limit` characters on a word boundary with '…'."""
    text = " ".join(text.split())
    if not text:
        return ""
    start = 0
    for m in _SENTENCE_END.finditer(text):
        candidate = text[: m.start()]
        if any(candidate.endswith(a) for a in _ABBREVIATIONS):
            continue
        if m.start() - start < 20:  # "1. Introduction" style fragments
            continue
        text = candidate
        break
    return truncate(text, limit)


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, on a word boundary where possible, with '…'."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def spans(text: str, hits: Iterable[Hit], field: str) -> list[tuple[str, bool]]:
    """`text` cut into (segment, highlighted) pieces by the hits in `field`; overlaps merged."""
    ranges = sorted(
        (max(0, h.start), min(len(text), h.end))
        for h in hits
        if h.field == field and h.end > h.start
    )
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for start, end in merged:
        if start > pos:
            pieces.append((text[pos:start], False))
        pieces.append((text[start:end], True))
        pos = end
    if pos < len(text):
        pieces.append((text[pos:], False))
    return pieces


def highlight(
    text: str,
    hits: Iterable[Hit],
    field: str,
    mark: Callable[[str], str],
    escape: Callable[[str], str] = lambda s: s,
) -> str:
    """`text` with every hit in `field` wrapped by `mark`, all pieces passed through `escape`."""
    return "".join(
        mark(escape(seg)) if hit else escape(seg) for seg, hit in spans(text, hits, field)
    )


def sentence_hits(match: Match, sentence: str) -> tuple[Hit, ...]:
    """Abstract hits that fall inside the abstract's first sentence (as `first_sentence` cut it).

    Valid because `first_sentence` only collapses whitespace; offsets are re-found by term search
    when the collapsed text differs from the original.
    """
    abstract = match.paper.abstract
    if " ".join(abstract.split()) == abstract:
        return tuple(h for h in match.hits if h.field == "abstract" and h.end <= len(sentence))
    # Whitespace changed: map hits onto the collapsed sentence by searching the matched words.
    out: list[Hit] = []
    lowered = sentence.lower()
    for h in match.hits:
        if h.field != "abstract":
            continue
        word = " ".join(abstract[h.start : h.end].split()).lower()
        i = lowered.find(word)
        if word and i >= 0:
            out.append(Hit("abstract", h.term, i, i + len(word)))
    return tuple(out)


def paper_links(paper: Paper) -> list[tuple[str, str]]:
    """(label, url) for the paper's PDF, code and project page, those that exist."""
    links = []
    if paper.pdf_url:
        links.append(("PDF", paper.pdf_url))
    if paper.code_url:
        links.append(("Code", paper.code_url))
    if paper.project_url:
        links.append(("Project", paper.project_url))
    return links
