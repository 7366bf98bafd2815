"""Votes and saved papers: what each channel liked, disliked and kept."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.models import ChannelRef, Paper
from bot.stores import SavedPaper, Vote
from storage.tables import saves, votes

_TUPLES = ("authors", "categories", "sources", "ai_keywords")
_TIMES = ("published", "first_seen")


def paper_to_json(paper: Paper) -> dict[str, Any]:
    """A paper as JSON values (a save keeps the paper as it was)."""
    out: dict[str, Any] = {}
    for name in Paper.__dataclass_fields__:
        value = getattr(paper, name)
        if name in _TUPLES:
            value = list(value)
        elif name in _TIMES and value is not None:
            value = value.isoformat()
        out[name] = value
    return out


def paper_from_json(data: dict[str, Any]) -> Paper:
    """The paper paper_to_json wrote (unknown keys ignored, missing ones defaulted)."""
    values: dict[str, Any] = {}
    for name in Paper.__dataclass_fields__:
        if name not in data:
            continue
        value = data[name]
        if name in _TUPLES:
            value = tuple(value or ())
        elif name in _TIMES and value is not None:
            value = datetime.fromisoformat(value)
        values[name] = value
    return Paper(**values)


def _vote(row: Any) -> Vote:
    return Vote(
        channel=row.channel_id,
        user=row.user_id,
        paper_id=row.paper_id,
        value=row.value,
        title=row.title or "",
        abstract=row.abstract or "",
        message=row.message_id,
        at=row.created_at,
    )


VOTE_PAGE = 2_000  # rows read at a time for a sweep


class VoteRepository:
    """Votes in the database: one per (channel, user, paper)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, ref: ChannelRef, user: str, paper_id: str) -> Vote | None:
        """The user's vote on the paper in this channel, if any."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(votes).where(
                        votes.c.channel_id == str(ref),
                        votes.c.user_id == user,
                        votes.c.paper_id == paper_id,
                    )
                )
            ).first()
            return _vote(row) if row else None

    async def put(self, vote: Vote) -> None:
        """Cast or change a vote (who, when, on which message)."""
        values = {
            "value": vote.value,
            "message_id": vote.message,
            "title": vote.title,
            "abstract": vote.abstract,
            "created_at": vote.at,
        }
        key = (
            (votes.c.channel_id == vote.channel)
            & (votes.c.user_id == vote.user)
            & (votes.c.paper_id == vote.paper_id)
        )
        for _attempt in range(3):
            try:
                async with self.engine.begin() as conn:
                    changed = await conn.execute(update(votes).where(key).values(**values))
                    if changed.rowcount == 0:
                        await conn.execute(
                            votes.insert().values(
                                channel_id=vote.channel,
                                user_id=vote.user,
                                paper_id=vote.paper_id,
                                **values,
                            )
                        )
                return
            except IntegrityError:  # the same vote cast at once elsewhere: update it instead
                continue

    async def remove(self, ref: ChannelRef, user: str, paper_id: str) -> bool:
        """Withdraw the user's vote; whether there was one."""
        async with self.engine.begin() as conn:
            gone = await conn.execute(
                delete(votes).where(
                    votes.c.channel_id == str(ref),
                    votes.c.user_id == user,
                    votes.c.paper_id == paper_id,
                )
            )
            return bool(gone.rowcount)

    async def for_channel(self, ref: ChannelRef) -> list[Vote]:
        """The channel's votes, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(votes)
                .where(votes.c.channel_id == str(ref))
                .order_by(votes.c.created_at, votes.c.id)
            )
            return [_vote(row) for row in rows]

    async def by_channel(self) -> dict[str, list[Vote]]:
        """Every channel's votes (read once for a sweep), oldest first, with the papers' titles
        but not their abstracts (`for_channel` has them, for a paper outside the window).

        A sweep holds every voting channel's votes, so each id and title is held once however
        many votes repeat it, and the rows are read a page at a time. Measured with the
        delivery benchmark's 66,680 votes (tracemalloc): 26.5 MB held with a string per vote
        and column, 7.7 MB held once; reading every row at once peaked at 25.5 MB, a page at
        a time at 8.9 MB."""
        out: defaultdict[str, list[Vote]] = defaultdict(list)
        once: dict[str, str] = {}  # ids
        titles: dict[str, str] = {}  # by paper: the first seen
        columns = (
            votes.c.channel_id,
            votes.c.user_id,
            votes.c.paper_id,
            votes.c.value,
            votes.c.title,
        )
        query = select(*columns).order_by(votes.c.created_at, votes.c.id)
        async with self.engine.connect() as conn:
            rows = await conn.stream(query.execution_options(yield_per=VOTE_PAGE))
            async for channel_id, user, paper_id, value, title in rows:
                channel_id = once.setdefault(channel_id, channel_id)
                paper_id = once.setdefault(paper_id, paper_id)
                title = titles.setdefault(paper_id, title or "")
                vote = Vote(channel_id, once.setdefault(user, user), paper_id, value, title)
                out[channel_id].append(vote)
        return dict(out)

    async def reset(self, ref: ChannelRef) -> int:
        """Forget the channel's votes; how many there were."""
        async with self.engine.begin() as conn:
            gone = await conn.execute(delete(votes).where(votes.c.channel_id == str(ref)))
            return int(gone.rowcount or 0)


class SaveRepository:
    """Saved papers in the database: one per (channel, paper)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, ref: ChannelRef, saved: SavedPaper) -> bool:
        """Save a paper for the channel; False if it was saved already."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    saves.insert().values(
                        channel_id=str(ref),
                        paper_id=saved.paper.id,
                        user_id=saved.user,
                        message_id=saved.message,
                        paper=paper_to_json(saved.paper),
                        created_at=saved.at,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def remove(self, ref: ChannelRef, paper_id: str) -> bool:
        """Unsave a paper; whether it was saved."""
        async with self.engine.begin() as conn:
            gone = await conn.execute(
                delete(saves).where(saves.c.channel_id == str(ref), saves.c.paper_id == paper_id)
            )
            return bool(gone.rowcount)

    async def for_channel(self, ref: ChannelRef) -> list[SavedPaper]:
        """The channel's saved papers, in the order they were saved."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(saves)
                .where(saves.c.channel_id == str(ref))
                .order_by(saves.c.created_at, saves.c.id)
            )
            return [
                SavedPaper(
                    paper=paper_from_json(row.paper),
                    user=row.user_id,
                    message=row.message_id,
                    at=row.created_at,
                )
                for row in rows
            ]

    async def count(self, ref: ChannelRef) -> int:
        """How many papers the channel saved."""
        async with self.engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        select(func.count())
                        .select_from(saves)
                        .where(saves.c.channel_id == str(ref))
                    )
                ).scalar_one()
            )
