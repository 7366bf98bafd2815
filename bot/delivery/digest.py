"""Digest building: select what a channel has not seen, rank it, cap it, split it. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime

from bot.delivery.schedules import period
from bot.models import Channel, Digest, Match, Schedule

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def digest_title(now: datetime, schedule: Schedule | None = None) -> str:
    """The header of a digest built at `now` (a weekly one says it is the week's)."""
    covers = f" {period(schedule)}" if schedule is not None and period(schedule) else ""
    return f"New papers{covers} · {now:%a %d %b %Y}"


def rank_key(match: Match) -> tuple[bool, int, float, str]:
    """Title matches before abstract-only matches, then upvotes, then the newest first."""
    paper = match.paper
    seen = paper.first_seen or paper.published or _EPOCH
    return (not match.in_title, -(paper.upvotes or 0), -seen.timestamp(), paper.id)


def rank(matches: Iterable[Match]) -> list[Match]:
    """Matches in digest order."""
    return sorted(matches, key=rank_key)


def build_digest(
    channel: Channel,
    matches: Iterable[Match],
    title: str = "New papers",
    order: Callable[[list[Match]], list[Match]] | None = None,
) -> Digest:
    """The channel's digest from its unposted matches: upvote floor, ranked (by `order`, the
    channel's learned ranking, where it has one), capped at `max`."""
    floor = channel.settings.min_upvotes
    kept = [m for m in matches if floor <= 0 or (m.paper.upvotes or 0) >= floor]
    ranked = order(rank(kept)) if order is not None else rank(kept)
    cap = max(1, channel.settings.max_items)
    return Digest(
        channel=channel.ref,
        items=tuple(ranked[:cap]),
        more=max(0, len(ranked) - cap),
        title=title,
        period=period(channel.schedule),
    )


def paginate(digest: Digest, fits: Callable[[Digest], bool]) -> list[Digest]:
    """Split `digest` into consecutive pages that each `fits` one message (at least one item each).

    `fits` is the platform's own check of a rendered page against its limits.
    """
    if digest.empty:
        return []
    if fits(digest):  # the common case: one message, rendered once
        return [digest]
    pages: list[list[Match]] = []
    current: list[Match] = []
    for item in digest.items:
        trial = [*current, item]
        if current and not fits(replace(digest, items=tuple(trial), page=len(pages) + 1, pages=0)):
            pages.append(current)
            current = [item]
        else:
            current = trial
    pages.append(current)
    # The last page also carries "and N more"; if that tips it over, move its last item on.
    last = replace(digest, items=tuple(pages[-1]), page=len(pages), pages=len(pages))
    if len(pages[-1]) > 1 and not fits(last):
        pages.append([pages[-1].pop()])
    total = len(pages)
    return [
        replace(
            digest,
            items=tuple(items),
            page=i + 1,
            pages=total,
            more=digest.more if i + 1 == total else 0,
        )
        for i, items in enumerate(pages)
    ]
