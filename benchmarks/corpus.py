"""Benchmark data from the bundled corpus: real titles and abstracts, repeated with varied ids."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import UTC, datetime

from adapters.sources.sample import load_sample
from bot.models import Paper

_WORD = re.compile(r"[A-Za-z][A-Za-z]{3,}")
_STOP = frozenset(
    [
        "this",
        "that",
        "with",
        "from",
        "their",
        "these",
        "have",
        "which",
        "been",
        "were",
        "such",
        "also",
        "into",
        "more",
        "than",
        "they",
        "only",
        "over",
        "both",
        "each",
        "other",
        "when",
        "what",
        "where",
        "while",
        "however",
        "using",
        "used",
        "based",
        "show",
        "shows",
        "paper",
        "approach",
        "method",
        "methods",
        "results",
        "propose",
        "proposed",
        "work",
        "novel",
        "existing",
    ]
)


def bench_papers(n: int, seed: int = 7) -> list[Paper]:
    """`n` papers: the corpus repeated, each copy with its own id, a word or two of its abstract
    dropped and an upvote count of its own, so no two are identical."""
    base = load_sample(datetime(2026, 11, 30, tzinfo=UTC))
    rng = random.Random(seed)
    out = []
    for i in range(n):
        paper = base[i % len(base)]
        words = paper.abstract.split()
        for _ in range(min(2, len(words) // 20)):
            del words[rng.randrange(len(words))]
        out.append(
            Paper(
                id=f"arxiv:2611.{i:05d}",
                title=paper.title,
                abstract=" ".join(words),
                url=f"https://arxiv.org/abs/2611.{i:05d}",
                upvotes=rng.randrange(200),
                categories=(rng.choice(["cs.CV", "cs.LG", "cs.CL", "cs.AI"]),),
                sources=("sample",),
            )
        )
    return out


def vocabulary(papers: list[Paper], min_count: int = 3, max_share: float = 0.05) -> list[str]:
    """Content words of the corpus seen in at least `min_count` papers and at most `max_share`
    of them (so a subscription to one matches a handful of papers, as real ones do)."""
    seen: Counter[str] = Counter()
    for paper in papers:
        seen.update({w.lower() for w in _WORD.findall(f"{paper.title} {paper.abstract}")})
    limit = max_share * len(papers)
    return sorted(w for w, n in seen.items() if min_count <= n <= limit and w not in _STOP)
