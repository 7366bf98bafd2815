"""A channel's votes tallied: which papers it liked and disliked (no compute libraries needed)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.stores import Vote

MIN_LIKES = 3  # a channel's votes rank its digests from this many liked papers on


def tally(votes: Sequence[Vote]) -> tuple[dict[str, Vote], dict[str, Vote]]:
    """The channel's liked and disliked papers: each paper's votes summed over its people."""
    total: dict[str, int] = {}
    last: dict[str, Vote] = {}
    for vote in votes:
        total[vote.paper_id] = total.get(vote.paper_id, 0) + vote.value
        last[vote.paper_id] = vote
    liked = {pid: last[pid] for pid, n in total.items() if n > 0}
    disliked = {pid: last[pid] for pid, n in total.items() if n < 0}
    return liked, disliked
