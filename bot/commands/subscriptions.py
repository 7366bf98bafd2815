"""Following queries: subscribe, unsubscribe, list."""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands.base import (
    LISTED,
    SUBSCRIBE_PREVIEW_DAYS,
    CommandBase,
    _error,
    _query_error,
    _shown,
    describe_channel,
    n_papers,
)
from bot.models import Command, Reply, Subscription
from bot.query.language import Query, QueryError, parse
from bot.ranking.votes import MIN_LIKES, tally
from bot.stores import DuplicateSubscription


def _same_query(subs: Sequence[Subscription], query: Query) -> list[Subscription]:
    """The subscriptions whose query matches the same papers as `query` (same Query.key)."""
    out = []
    for sub in subs:
        try:
            if parse(sub.canonical).key == query.key:
                out.append(sub)
        except QueryError:  # a canonical form always parses; an old row might not
            continue
    return out


def _duplicate(existing: Subscription, query: Query) -> Reply:
    twin = "" if existing.canonical == query.canonical else ", which matches the same papers"
    return _error(f"This channel already follows `{existing.canonical}` (#{existing.id}){twin}.")


class SubscriptionCommands(CommandBase):
    """subscribe, unsubscribe, list."""

    async def _cmd_subscribe(self, command: Command, rest: str) -> Reply:
        if not rest:
            return _error("Give a query to follow, e.g. `subscribe diffusion`.")
        try:
            query = parse(rest)
        except QueryError as exc:
            return _query_error(exc, rest)
        channel = await self._channel(command)
        async with self._subscribing[channel.ref]:
            same = _same_query(await self.stores.channels.subscriptions(channel.ref), query)
            if same:
                return _duplicate(same[0], query)
            try:
                sub = await self.stores.channels.subscribe(
                    channel.ref, rest, query.canonical, self.clock()
                )
            except DuplicateSubscription as dup:  # (subscribed meanwhile, by another process)
                return _duplicate(dup.existing, query)
            self.pipeline.book.add(sub)
        found = await self.pipeline.find(query, SUBSCRIBE_PREVIEW_DAYS, 3)
        head = f"Subscribed to `{query.canonical}` (#{sub.id})."
        if not found.total:
            return Reply(f"{head} No stored paper of the last 7 days matches it yet.")
        return Reply(
            f"{head} It would have matched {n_papers(found.total)} of the last 7 days; "
            + (
                "the top 3:"
                if found.total > 3
                else "here it is:"
                if found.total == 1
                else "here they are:"
            ),
            matches=tuple(found.matches),
        )

    async def _cmd_unsubscribe(self, command: Command, rest: str) -> Reply:
        subs = await self.stores.channels.subscriptions(command.channel)
        if not rest:
            return _error("Say what to remove: `unsubscribe <query>`, `unsubscribe #3` or `all`.")
        if not subs:
            return _error("This channel follows nothing, so there is nothing to unsubscribe from.")
        if rest.lower() == "all":
            chosen = subs
        elif rest.startswith("#") and rest[1:].isascii() and rest[1:].isdigit():
            chosen = [s for s in subs if s.id == int(rest[1:])]
        else:
            try:
                query = parse(rest)
            except QueryError as exc:
                return _query_error(exc, rest)
            # As listed, else a form that matches the same papers (`models` for `model`).
            chosen = [s for s in subs if s.canonical == query.canonical] or _same_query(subs, query)
        if not chosen:
            listed = ", ".join(f"#{s.id} `{s.canonical}`" for s in subs[:LISTED])
            if len(subs) > LISTED:
                listed += f" and {len(subs) - LISTED} more (`list` shows them all)"
            return _error(f"No subscription `{_shown(rest)}` here. This channel follows: {listed}.")
        await self.stores.channels.unsubscribe(command.channel, [s.id for s in chosen])
        for sub in chosen:
            self.pipeline.book.remove(sub.id)
        gone = ", ".join(f"`{s.canonical}` (#{s.id})" for s in chosen)
        return Reply(f"Unsubscribed from {gone}.")

    async def _cmd_list(self, command: Command, rest: str) -> Reply:
        # A channel that has answered a command exists from then on (`paperbot digest` and
        # `status` know it); a refused command never reaches here, so it creates nothing.
        channel = await self._channel(command)
        subs = await self.stores.channels.subscriptions(command.channel)
        if not subs:
            lines = ["This channel follows nothing yet. Try `subscribe diffusion`."]
        else:
            lines = ["This channel follows:"] + [f"#{s.id} `{s.canonical}`" for s in subs]
        lines.append(describe_channel(channel))
        votes = await self.stores.votes.for_channel(command.channel)
        liked, disliked = tally(votes)
        saved = await self.stores.saves.count(command.channel)
        ranking = (
            "ranked by what it liked"
            if len(liked) >= MIN_LIKES
            else f"ranked by keywords until {MIN_LIKES} papers are liked"
        )
        voters = len({v.user for v in votes})
        lines.append(
            f"Votes: **{len(liked)}** liked, **{len(disliked)}** disliked "
            f"(by {voters} {'person' if voters == 1 else 'people'}) · {saved} saved · {ranking}"
        )
        return Reply("\n".join(lines))
