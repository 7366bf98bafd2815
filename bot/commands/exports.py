"""Saved papers as files: BibTeX (arXiv-correct `@misc` entries) and CSV."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Sequence

from bot.models import Paper
from bot.stores import SavedPaper

_ARXIV = re.compile(r"^arxiv:(.+)$")
_KEY_WORD = re.compile(r"[A-Za-z0-9]+")
_STOP = frozenset({"a", "an", "the", "on", "of", "for", "in", "to", "and", "with", "towards"})


def arxiv_id(paper: Paper) -> str | None:
    """The paper's arXiv id (no version), if it is an arXiv paper."""
    found = _ARXIV.match(paper.id)
    return found.group(1) if found else None


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _surname(author: str) -> str:
    words = _KEY_WORD.findall(_ascii(author))
    return words[-1].lower() if words else "anon"


def _year(paper: Paper) -> str:
    """The year: from the arXiv id (yymm.nnnnn) where there is one, else published or seen."""
    aid = arxiv_id(paper)
    if aid and re.match(r"^\d{4}\.\d{4,5}$", aid):
        return f"20{aid[:2]}"
    when = paper.published or paper.first_seen
    return f"{when.year}" if when else ""


def bibtex_key(paper: Paper) -> str:
    """A stable key: first author's surname, year, first content word of the title
    (`ho2020denoising`); made unique by `bibtex` where two papers share it."""
    surname = _surname(paper.authors[0]) if paper.authors else "anon"
    words = [w.lower() for w in _KEY_WORD.findall(_ascii(paper.title))]
    word = next((w for w in words if w not in _STOP), "paper")
    return f"{surname}{_year(paper)}{word}"


def _braced(text: str) -> str:
    """A field value safe inside braces: whitespace collapsed, braces balanced, TeX specials escaped."""
    text = " ".join(text.split())
    text = re.sub(r"(?<!\\)([&%$#_])", r"\\\1", text)
    if text.count("{") != text.count("}"):
        text = text.replace("{", "").replace("}", "")
    return text


def bibtex(saved: Sequence[SavedPaper]) -> str:
    """The saved papers as BibTeX, one `@misc` entry each (arXiv's own form for preprints)."""
    entries, used = [], set()
    for item in saved:
        paper = item.paper
        key = base = bibtex_key(paper)
        n = 0
        while key in used:  # stable: the same saved list always gets the same suffixes
            n += 1
            key = f"{base}{chr(ord('a') + n - 1) if n <= 26 else n}"
        used.add(key)
        fields = [("title", "{" + _braced(paper.title) + "}")]
        if paper.authors:
            fields.append(("author", " and ".join(_braced(a) for a in paper.authors)))
        year = _year(paper)
        if year:
            fields.append(("year", year))
        aid = arxiv_id(paper)
        if aid:
            fields += [("eprint", aid), ("archivePrefix", "arXiv")]
            if paper.categories:
                fields.append(("primaryClass", paper.categories[0]))
            fields.append(("url", f"https://arxiv.org/abs/{aid}"))
        elif paper.url:
            fields.append(("url", paper.url))
        if paper.id.startswith("doi:"):
            fields.append(("doi", paper.id.removeprefix("doi:")))
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        entries.append(f"@misc{{{key},\n{body}\n}}\n")
    return "\n".join(entries)


CSV_COLUMNS = (
    "id",
    "title",
    "authors",
    "year",
    "categories",
    "url",
    "pdf_url",
    "saved_by",
    "saved_at",
)


def csv_text(saved: Sequence[SavedPaper]) -> str:
    """The saved papers as CSV with a header row (authors and categories joined by `; `)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in saved:
        p = item.paper
        writer.writerow(
            [
                p.id,
                p.title,
                "; ".join(p.authors),
                _year(p),
                "; ".join(p.categories),
                p.url,
                p.pdf_url or "",
                item.user,
                item.at.isoformat() if item.at else "",
            ]
        )
    return out.getvalue()
