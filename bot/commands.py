"""The platform-neutral command handler: one Command in, one Reply out."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta

from bot.models import Channel, ChannelRef, Command, Match, Paper, Reply, Schedule, Subscription
from bot.pipeline import NoChatForPlatform, Pipeline
from bot.query import Query, QueryError, parse
from bot.schedules import ScheduleError, parse_schedule, parse_settings
from bot.stores import DuplicateSubscription

log = logging.getLogger(__name__)

# Commands that change a channel's subscriptions, schedule or settings: with
# PAPERBOT_ADMINS_ONLY=true only admins may run them (each adapter decides who is one).
MANAGE_COMMANDS = frozenset({"subscribe", "unsubscribe", "schedule", "settings", "pause", "resume"})
NO_ARGUMENTS = frozenset({"list", "digest", "preview", "trending", "pause", "resume"})
LISTED = 10  # subscriptions named in an error before "and N more"
SUBSCRIBE_PREVIEW_DAYS = 7
SEARCH_DAYS = 30
SEARCH_LIMIT = 10

HELP = """**paperbot** posts a daily digest of new papers matching this channel's subscriptions.

`subscribe <query>`: follow a query, e.g. `subscribe "classifier-free guidance"`, `subscribe (video OR audio) diffusion -survey`, `subscribe cat:cs.CV upvotes:>=10`
`unsubscribe <query | #id | all>`: stop following
`list`: this channel's subscriptions, schedule and settings
`digest`: post the digest now · `preview`: see the next digest (only you)
`search <query>`: best matches of the last 30 days (only you) · `trending`: today's most upvoted papers
`schedule 09:00 Europe/Berlin weekdays` or `schedule off`: when the digest is posted
`settings max=10 min-upvotes=0 threads=off`: digest size, upvote floor, abstracts in a thread
`pause` / `resume`: stop and restart posting, subscriptions kept
Queries: words match whole words in title or abstract (any case, plurals folded); `diffus*` prefixes; `"exact phrase"`; `OR`; `-word` or `NOT word` excludes; fields `title:` `abstract:` `author:` `cat:` `upvotes:>=N`."""


def command_name(text: str) -> str:
    """The command word of `text` (`subscribe diffusion` -> `subscribe`), lower-cased."""
    word = text.strip().split(maxsplit=1)
    return word[0].lower() if word else "help"


def needs_manage(text: str) -> bool:
    """Whether running `text` needs the right to manage the channel."""
    return command_name(text) in MANAGE_COMMANDS


def n_papers(n: int) -> str:
    """`1 paper`, `2 papers`, in bold."""
    return f"**{n}** paper" + ("" if n == 1 else "s")


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


def _error(text: str) -> Reply:
    return Reply(text=text, error=True)


def _query_error(exc: QueryError, query: str) -> Reply:
    return _error(f"Could not read the query `{_shown(query)}`: {exc}")


def _shown(text: str, limit: int = 80) -> str:
    """What the user typed, cut short for an error message (a query may be pages long)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_channel(channel: Channel) -> str:
    """Schedule, settings and state on one line."""
    s = channel.settings
    state = "inactive" if not channel.active else "paused" if channel.paused else "active"
    return (
        f"Schedule: **{channel.schedule.describe()}** · max={s.max_items} "
        f"min-upvotes={s.min_upvotes} threads={'on' if s.threads else 'off'} · {state}"
    )


class CommandHandler:
    """Runs chat commands against the stores and the pipeline. Call it with a Command."""

    def __init__(
        self,
        pipeline: Pipeline,
        default_schedule: Schedule,
        *,
        trending: Callable[[], Awaitable[list[Paper]]] | None = None,
        on_channel_change: Callable[[Channel], Awaitable[None]] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.stores = pipeline.stores
        self.clock = pipeline.clock
        self.default_schedule = default_schedule
        self.trending_source = trending
        self.on_channel_change = on_channel_change
        # One subscribe at a time per channel in this process: the same-meaning check and the
        # insert must not interleave (`diffusion model` and `diffusion models` sent at once).
        self._subscribing: defaultdict[ChannelRef, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def __call__(self, command: Command) -> Reply:
        """Run one command; errors come back as a Reply, never as an exception."""
        name = command_name(command.text)
        rest = command.text.strip()[len(name) :].strip()
        handler = getattr(self, f"_cmd_{name.replace('-', '_')}", None)
        if handler is None:
            return _error(f"Unknown command `{name}`. Try `help` for the list of commands.")
        if rest and name in NO_ARGUMENTS:
            return _error(f"`{name}` takes nothing after it (got `{_shown(rest)}`): type `{name}`.")
        if name in MANAGE_COMMANDS and not command.can_manage:
            return _error(
                "Sorry, only admins can change this channel's subscriptions, schedule or "
                "settings here (Slack: workspace admins; Discord: members with Manage Channels). "
                "Ask one of them, or try `preview` and `search`."
            )
        try:
            return await handler(command, rest)
        except NoChatForPlatform as exc:
            return _error(str(exc))
        except Exception:
            log.exception("command %r in %s failed", command.text, command.channel)
            return _error(
                "Something went wrong on our side; the error was logged. Try again later."
            )

    async def _channel(self, command: Command) -> Channel:
        return await self.stores.channels.ensure(
            command.channel, self.default_schedule, self.clock()
        )

    async def _changed(self, channel: Channel, before: Channel) -> None:
        """Store what a command changed (only that: see ChannelStore.save) and tell the
        scheduler, with the channel as it now is."""
        await self.stores.channels.save(channel, before)
        if self.on_channel_change is not None:
            await self.on_channel_change(await self.stores.channels.get(channel.ref) or channel)

    # --- commands (one method each; `rest` is the text after the command word) -----------

    async def _cmd_help(self, command: Command, rest: str) -> Reply:
        return Reply(HELP)

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
        found = await self.pipeline.search(query, SUBSCRIBE_PREVIEW_DAYS)
        head = f"Subscribed to `{query.canonical}` (#{sub.id})."
        if not found:
            return Reply(f"{head} No stored paper of the last 7 days matches it yet.")
        return Reply(
            f"{head} It would have matched {n_papers(len(found))} of the last 7 days; "
            + (
                "the top 3:"
                if len(found) > 3
                else "here it is:"
                if len(found) == 1
                else "here they are:"
            ),
            matches=tuple(found[:3]),
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
        channel = await self.stores.channels.get(command.channel)
        subs = await self.stores.channels.subscriptions(command.channel)
        if channel is None or not subs:
            lines = ["This channel follows nothing yet. Try `subscribe diffusion`."]
        else:
            lines = ["This channel follows:"] + [f"#{s.id} `{s.canonical}`" for s in subs]
        shown = channel or Channel(ref=command.channel, schedule=self.default_schedule)
        lines.append(describe_channel(shown))
        return Reply("\n".join(lines))

    async def _cmd_digest(self, command: Command, rest: str) -> Reply:
        await self._channel(command)
        report = await self.pipeline.run_digest(command.channel)
        if report.posted:
            more = f" ({report.more} more matched: `search` finds them)" if report.more else ""
            return Reply(f"Posted {n_papers(report.papers)} in {report.posted} message(s){more}.")
        if report.note:
            return Reply(f"Nothing posted: {report.note}.")
        return Reply("Nothing new matches this channel's subscriptions since the last digest.")

    async def _cmd_preview(self, command: Command, rest: str) -> Reply:
        digest = await self.pipeline.preview(command.channel)
        if digest.empty:
            return Reply("The next digest is empty so far: nothing new matches yet.")
        more = f" (and {digest.more} more)" if digest.more else ""
        return Reply(
            f"The next digest would hold {n_papers(len(digest.items))}{more}:", matches=digest.items
        )

    async def _cmd_search(self, command: Command, rest: str) -> Reply:
        if not rest:
            return _error("Give a query, e.g. `search diffusion video`.")
        try:
            query = parse(rest)
        except QueryError as exc:
            return _query_error(exc, rest)
        found = await self.pipeline.search(query, SEARCH_DAYS)
        if not found:
            return Reply(f"No paper of the last {SEARCH_DAYS} days matches `{query.canonical}`.")
        shown = found[:SEARCH_LIMIT]
        return Reply(
            f"{n_papers(len(found))} of the last {SEARCH_DAYS} days match `{query.canonical}`"
            + (f"; the best {len(shown)}:" if len(shown) < len(found) else ":"),
            matches=tuple(shown),
        )

    async def _cmd_trending(self, command: Command, rest: str) -> Reply:
        papers = await self.trending()
        if not papers:
            return Reply("No Hugging Face daily papers are stored for today yet.")
        shown = papers[:SEARCH_LIMIT]
        return Reply(
            "Today's most upvoted papers on Hugging Face:",
            matches=tuple(Match(p, (), ()) for p in shown),
        )

    async def trending(self) -> list[Paper]:
        """Today's Hugging Face papers by upvotes: live when the source can, else stored."""
        if self.trending_source is not None:
            try:
                return await self.trending_source()
            except Exception as exc:
                log.warning("live trending failed, using stored papers: %s", exc)
        now = self.clock()
        papers = await self.stores.papers.seen_between(now - timedelta(hours=36), now)
        daily = [p for p in papers if "huggingface" in p.sources]
        return sorted(daily, key=lambda p: (-(p.upvotes or 0), p.id))

    async def _cmd_schedule(self, command: Command, rest: str) -> Reply:
        channel = await self._channel(command)
        try:
            schedule = parse_schedule(rest, channel.schedule)
        except ScheduleError as exc:
            return _error(str(exc))
        if schedule != channel.schedule:
            changed = replace(channel, schedule=schedule, schedule_set_at=self.clock())
            await self._changed(changed, channel)
        if schedule.describe() == "off":
            return Reply("Scheduled digests are off. `digest` still posts one on demand.")
        return Reply(f"Digests will be posted at **{schedule.describe()}**.")

    async def _cmd_settings(self, command: Command, rest: str) -> Reply:
        channel = await self._channel(command)
        if not rest:
            return Reply(describe_channel(channel))
        try:
            settings = parse_settings(rest, channel.settings)
        except ScheduleError as exc:
            return _error(str(exc))
        updated = replace(channel, settings=settings)
        await self._changed(updated, channel)
        return Reply(f"Settings saved. {describe_channel(updated)}")

    async def _cmd_pause(self, command: Command, rest: str) -> Reply:
        channel = await self._channel(command)
        await self._changed(replace(channel, paused=True), channel)
        return Reply(
            "Paused: no digests will be posted here until `resume`. Subscriptions are kept."
        )

    async def _cmd_resume(self, command: Command, rest: str) -> Reply:
        channel = await self._channel(command)
        await self._changed(replace(channel, paused=False, active=True), channel)
        return Reply(f"Resumed. {describe_channel(replace(channel, paused=False, active=True))}")
