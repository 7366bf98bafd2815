"""What every group of commands shares: the stores, the pipeline, and replies' wording."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable

from bot.delivery.pipeline import Pipeline
from bot.inbound import EXCERPT, excerpt
from bot.models import Channel, ChannelRef, Command, Paper, Reply, Schedule
from bot.query.language import QueryError

# Commands that change a channel's subscriptions, schedule or settings: with
# PAPERBOT_ADMINS_ONLY=true only admins may run them (each adapter decides who is one).
MANAGE_COMMANDS = frozenset({"subscribe", "unsubscribe", "schedule", "settings", "pause", "resume"})
# Commands that change the channel's votes: with PAPERBOT_VOTES_ADMINS_ONLY=true, admins only.
VOTE_COMMANDS = frozenset({"like", "dislike", "unvote"})
NO_ARGUMENTS = frozenset({"list", "digest", "preview", "trending", "pause", "resume", "saved"})
LISTED = 10  # subscriptions named in an error before "and N more"
SUBSCRIBE_PREVIEW_DAYS = 7
SEARCH_DAYS = 30
SEARCH_LIMIT = 10


def command_name(text: str) -> str:
    """The command word of `text` (`subscribe diffusion` -> `subscribe`), lower-cased."""
    word = text.strip().split(maxsplit=1)
    return word[0].lower() if word else "help"


def is_votes_reset(text: str) -> bool:
    """Whether `text` is `votes reset` (which forgets the channel's votes)."""
    return text.strip().lower().split() == ["votes", "reset"]


def needs_manage(text: str) -> bool:
    """Whether running `text` may need the right to manage the channel (the handler decides,
    by its settings, whether it does): channel changes, votes, and `votes reset`."""
    return command_name(text) in MANAGE_COMMANDS | VOTE_COMMANDS or is_votes_reset(text)


def n_papers(n: int) -> str:
    """`1 paper`, `2 papers`, in bold."""
    return f"**{n}** paper" + ("" if n == 1 else "s")


def _error(text: str) -> Reply:
    return Reply(text=text, error=True)


def _query_error(exc: QueryError, query: str) -> Reply:
    return _error(f"Could not read the query `{_shown(query)}`: {exc}")


def _shown(text: str, limit: int = EXCERPT) -> str:
    """What the user typed, cut short for an error message (a query may be pages long)."""
    return excerpt(text, limit)


def describe_channel(channel: Channel) -> str:
    """Schedule, settings and state on one line."""
    s = channel.settings
    state = "inactive" if not channel.active else "paused" if channel.paused else "active"
    return (
        f"Schedule: **{channel.schedule.describe()}** · max={s.max_items} "
        f"min-upvotes={s.min_upvotes} threads={'on' if s.threads else 'off'} "
        f"notices={'on' if s.notices else 'off'} · {state}"
    )


class CommandBase:
    """The state the command groups share; CommandHandler puts the groups together."""

    def __init__(
        self,
        pipeline: Pipeline,
        default_schedule: Schedule,
        *,
        trending: Callable[[], Awaitable[list[Paper]]] | None = None,
        on_channel_change: Callable[[Channel], Awaitable[None]] | None = None,
        admins_only: bool = True,
        votes_admins_only: bool = False,
    ) -> None:
        self.pipeline = pipeline
        self.stores = pipeline.stores
        self.clock = pipeline.clock
        self.default_schedule = default_schedule
        self.trending_source = trending
        self.on_channel_change = on_channel_change
        # Whether can_manage=False refuses channel changes (PAPERBOT_ADMINS_ONLY; adapters
        # only compute it when that or the next is on) and votes (PAPERBOT_VOTES_ADMINS_ONLY).
        self.admins_only = admins_only
        self.votes_admins_only = votes_admins_only
        # One subscribe at a time per channel in this process: the same-meaning check and the
        # insert must not interleave (`diffusion model` and `diffusion models` sent at once).
        self._subscribing: defaultdict[ChannelRef, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def _current(self, command: Command) -> Channel:
        """The channel as stored, or as it would be created: read only, so that a command can
        be checked before anything is written (a refused command leaves no channel behind)."""
        found = await self.stores.channels.get(command.channel)
        return found or Channel(ref=command.channel, schedule=self.default_schedule)

    async def _channel(self, command: Command) -> Channel:
        """The channel, created on first use: call it only once the command is accepted."""
        return await self.stores.channels.ensure(
            command.channel, self.default_schedule, self.clock()
        )

    async def _changed(self, channel: Channel, before: Channel) -> None:
        """Store what a command changed (only that: see ChannelStore.save) and tell the
        scheduler, with the channel as it now is."""
        await self.stores.channels.save(channel, before)
        if self.on_channel_change is not None:
            await self.on_channel_change(await self.stores.channels.get(channel.ref) or channel)
