"""The flow: source -> store -> match -> digest -> deliver, with the database as the truth."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

from bot.delivery.digest import build_digest, digest_title, rank
from bot.delivery.feed_health import record_urls
from bot.delivery.posting import DeliveryReport, Poster
from bot.delivery.schedules import first_window
from bot.models import Channel, ChannelRef, Digest, Match, Paper
from bot.ports import (
    Chat,
    Clock,
    Metrics,
    NullMetrics,
    PaperSource,
    SourceError,
)
from bot.query.language import Query, parse
from bot.query.matchbook import MatchBook, RoundMatches
from bot.query.matcher import explain
from bot.ranking.service import Ranking
from bot.stores import LedgerPage, SourceState, Stores, Vote

log = logging.getLogger(__name__)
PREVIEW_LOOKUPS = 3  # subscriptions a preview looks up one by one; more: it reads the window


@dataclass(frozen=True)
class PollReport:
    """What one poll of one source did."""

    source: str
    new: list[Paper]
    updated: int = 0
    bad_entries: int = 0
    not_modified: bool = False
    error: str | None = None
    skipped: bool = False


@dataclass(frozen=True)
class Round:
    """The papers of one sweep, read and matched once for every channel it serves."""

    matched: RoundMatches  # every channel's matches among the papers read
    read_at: datetime  # when they were read: where the digests' windows end
    open_channels: Set[str]  # channels (as str) with pages waiting in the ledger
    delivered: Mapping[str, Set[str]] = field(default_factory=dict)  # channel -> paper ids
    votes: Mapping[str, Sequence[Vote]] | None = None  # channel -> votes (None: not read)


@dataclass(frozen=True)
class Found:
    """A search's answer: how many papers match, and the best of them (best first)."""

    total: int
    matches: list[Match]


def _found(matches: list[Match], limit: int) -> Found:
    return Found(len(matches), matches[:limit])


class NoChatForPlatform(Exception):
    """A channel on a platform that is not configured in this process."""


class Pipeline:
    """Polls sources into the store and delivers each channel's digest through its chat."""

    def __init__(
        self,
        stores: Stores,
        sources: Mapping[str, PaperSource],
        chats: Mapping[str, Chat],
        clock: Clock,
        *,
        poll_interval: timedelta = timedelta(hours=1),
        max_backoff: timedelta = timedelta(hours=12),
        retry_base: float = 5.0,
        retry_max: float = 3600.0,
        book: MatchBook | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.stores = stores
        self.sources = dict(sources)
        self.chats = dict(chats)
        self.clock = clock
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.book = book or MatchBook()
        # Platforms posted to no more (bad credentials, or not started), with why.
        self.disabled_platforms: dict[str, str] = {}
        self.poster = Poster(
            stores,
            clock,
            self.book,
            metrics or NullMetrics(),
            self.disabled_platforms,
            retry_base=retry_base,
            retry_max=retry_max,
        )
        self.ranking = Ranking(stores, clock, poll_interval)

    @property
    def metrics(self) -> Metrics:
        """Where polls, matching and posts are counted."""
        return self.poster.metrics

    @metrics.setter
    def metrics(self, metrics: Metrics) -> None:
        self.poster.metrics = metrics

    # --- polling -------------------------------------------------------------------------

    async def poll(self, name: str, *, force: bool = False) -> PollReport:
        """Poll one source now (unless it is backing off and not forced); never raises.

        A forced poll (`paperbot poll`, by hand) that fails records its error but leaves the
        source's backoff as it was: the running bot's schedule is not pushed back by it.
        """
        try:
            return await self._poll(name, force=force)
        except Exception as exc:  # the source state itself cannot be read or written
            message = f"{type(exc).__name__}: {exc}"[:500]
            log.error("source %s: poll failed, its state could not be kept: %s", name, message)
            return PollReport(name, [], error=message)

    async def _poll(self, name: str, *, force: bool) -> PollReport:
        source = self.sources[name]
        state = await self.stores.sources.get(name)
        now = self.clock()
        if not force and state.next_poll_at and now < state.next_poll_at:
            return PollReport(name, [], skipped=True)
        try:
            result = await source.fetch(state.last_success_at, state.cursor)
        except Exception as exc:  # one source failing never stops the others
            if isinstance(exc, SourceError):  # each feed's health, by hand or not
                await record_urls(self.stores, self.chats, name, exc.urls, now)
            return await self._failed(name, state, now, f"{type(exc).__name__}: {exc}", force)
        try:
            # New papers are stamped as they are stored (the store reads the clock), not when
            # the fetch began: a digest that ran meanwhile has already closed its window on it.
            new, updated, dropped = await self._store(name, result.papers, insert_new=True)
            _, revised, dropped_updates = await self._store(name, result.updates, insert_new=False)
        except Exception as exc:  # the store failed: the source is retried, backed off
            return await self._failed(
                name, state, now, f"storing its papers failed: {type(exc).__name__}: {exc}", force
            )
        if new or updated or revised:
            self.ranking.papers_changed()
        bad = result.bad_entries + dropped + dropped_updates
        await self.stores.sources.save(
            SourceState(
                name=name,
                cursor=dict(result.cursor),
                last_poll_at=now,
                last_success_at=now,
                last_error=state.last_error,
                last_error_at=state.last_error_at,
                failures=0,
                last_count=len(new),
                bad_entries=state.bad_entries + bad,
                next_poll_at=now + self.poll_interval,
            )
        )
        self.metrics.polled(name, len(new), failed=False)
        await record_urls(self.stores, self.chats, name, result.urls, now)
        if bad:
            log.warning("source %s: %d bad entries dropped", name, bad)
        log.info(
            "source %s: %d new, %d updated%s",
            name,
            len(new),
            updated + revised,
            " (not modified)" if result.not_modified else "",
        )
        return PollReport(
            name,
            new,
            updated=updated + revised,
            bad_entries=bad,
            not_modified=result.not_modified,
        )

    async def _store(
        self, name: str, papers: Sequence[Paper], *, insert_new: bool
    ) -> tuple[list[Paper], int, int]:
        """Store one poll's papers: (new, updated, dropped). If the batch fails, each paper is
        stored alone, so one the store refuses is dropped (and logged) and the rest kept; raises
        when not one could be stored (then the store, not an entry, is failing)."""
        if not papers:
            return [], 0, 0
        try:
            stored = await self.stores.papers.upsert(papers, self.clock, insert_new=insert_new)
            return list(stored.new), stored.updated, 0
        except Exception as exc:
            if len(papers) == 1:
                raise
            log.warning(
                "source %s: storing %d papers at once failed (%s: %s); storing them one by one",
                name,
                len(papers),
                type(exc).__name__,
                str(exc)[:200],
            )
        new: list[Paper] = []
        updated = dropped = 0
        failure: Exception | None = None
        for paper in papers:
            try:
                one = await self.stores.papers.upsert([paper], self.clock, insert_new=insert_new)
            except Exception as exc:
                failure = exc
                dropped += 1
                log.warning(
                    "source %s: dropped %s: the store refused it (%s: %s)",
                    name,
                    paper.id[:120],
                    type(exc).__name__,
                    str(exc)[:200],
                )
                continue
            new.extend(one.new)
            updated += one.updated
        if failure is not None and dropped == len(papers):
            raise failure
        return new, updated, dropped

    async def _failed(
        self, name: str, state: SourceState, now: datetime, error: str, force: bool
    ) -> PollReport:
        """Record a failed poll: counted, backed off (unless forced), shown in `paperbot status`."""
        failures = state.failures + 1
        backoff = min(self.max_backoff, self.poll_interval * 2 ** (failures - 1))
        message = error[:500]
        self.metrics.polled(name, 0, failed=True)
        if force:
            log.warning("source %s failed: %s", name, message)
            await self.stores.sources.save(
                replace(state, last_poll_at=now, last_error=message, last_error_at=now)
            )
            return PollReport(name, [], error=message)
        log.warning(
            "source %s failed (%d in a row), next try in %s: %s",
            name,
            failures,
            backoff,
            message,
        )
        await self.stores.sources.save(
            replace(
                state,
                last_poll_at=now,
                last_error=message,
                last_error_at=now,
                failures=failures,
                next_poll_at=now + backoff,
            )
        )
        return PollReport(name, [], error=message)

    async def poll_all(self, *, force: bool = False) -> list[PollReport]:
        """Poll every source concurrently."""
        return list(await asyncio.gather(*(self.poll(n, force=force) for n in self.sources)))

    # --- matching and digests ------------------------------------------------------------

    async def sync_subscriptions(self) -> None:
        """Bring the in-memory index in line with the database (other replicas' changes)."""
        self.book.sync(await self.stores.channels.all_subscriptions())

    def match(self, papers: Sequence[Paper]) -> RoundMatches:
        """The papers matched against every subscription once (timed, for the metrics)."""
        started = time.perf_counter()
        matched = self.book.round(papers)
        self.metrics.matched(time.perf_counter() - started, len(papers))
        return matched

    def window_start(self, channel: Channel, now: datetime) -> datetime:
        """Where the channel's next digest starts: its last digest, or 24 hours back (a weekly
        channel's first digest: the week back)."""
        return channel.last_digest_at or (now - first_window(channel.schedule))

    async def unposted_matches(
        self,
        channel: Channel,
        now: datetime,
        matched: Sequence[Match] | None = None,
        delivered: Set[str] | None = None,
    ) -> list[Match]:
        """Matches first seen in the channel's window that were never put in its ledger.

        `matched` are the channel's matches worked out beforehand for a whole round of channels
        (any window); without it the channel's window is read and matched here. `delivered`
        are the channel's papers already in the ledger, when the caller read them for a round.
        """
        start = self.window_start(channel, now)
        if matched is None:
            papers = await self._may_match(channel.ref, start, now)
            matches = self.book.matches_for(channel.ref, papers)
        else:
            matches = [
                m for m in matched if m.paper.first_seen and start < m.paper.first_seen <= now
            ]
        if not matches:
            return []
        done = delivered
        if done is None:
            done = await self.stores.deliveries.delivered_ids(
                channel.ref, [m.paper.id for m in matches]
            )
        return [m for m in matches if m.paper.id not in done]

    async def _may_match(self, ref: ChannelRef, start: datetime, end: datetime) -> list[Paper]:
        """The papers first seen in (start, end] that may match one of the channel's
        subscriptions (as the book holds them), oldest first: found by the store's text index,
        one look-up per subscription, so a preview reads what it may show, not its whole window
        (a day is 1,370 papers at a year's volume). A channel with more than PREVIEW_LOOKUPS
        reads the window in one go instead: broad queries' look-ups cost more than they save
        (the README's performance section has the figures)."""
        subs = [self.book.subs[sid] for sid in self.book.channel_subs.get(ref, ())]
        if len(subs) > PREVIEW_LOOKUPS:
            return await self.stores.papers.seen_between(start, end)
        ids: set[str] = set()
        for sub in subs:
            ids.update(await self.stores.papers.candidates(parse(sub.query), start, end))
        papers = await self.stores.papers.load(sorted(ids))
        return sorted(papers, key=lambda p: (p.first_seen or start, p.id))

    async def find(self, query: Query, days: float, limit: int) -> Found:
        """How many stored papers first seen in the last `days` match `query`, and the best
        `limit` of them: what `search` returns, read through the store's text index.

        The index counts and ranks the matches and only the papers shown are read and explained;
        when it cannot decide the query alone (a wildcard on words) it finds the candidates and
        the evaluator decides each.
        """
        now = self.clock()
        start = now - timedelta(days=days)
        ranked = await self.stores.papers.ranked(query, start, now, limit)
        if ranked is not None:
            papers = {p.id: p for p in await self.stores.papers.load(ranked.ids)}
            shown = [papers[pid] for pid in ranked.ids if pid in papers]
            matches = await asyncio.to_thread(_search, query, shown)
            if [m.paper.id for m in matches] == ranked.ids:
                return Found(ranked.total, matches)
            # The index and the evaluator disagree (a paper changed in between?): read it all.
            log.warning("index and evaluator disagree on %r; searching the window", query.text)
            return _found(await self.search(query, days), limit)
        ids = await self.stores.papers.candidates(query, start, now)
        papers = await self.stores.papers.load(ids)
        return _found(await asyncio.to_thread(_search, query, papers), limit)

    async def search(self, query: Query, days: float) -> list[Match]:
        """Stored papers first seen in the last `days` that match `query`, best first (every
        paper of the window read and explained: `find` is the fast way)."""
        now = self.clock()
        papers = await self.stores.papers.seen_between(now - timedelta(days=days), now)
        # A month of papers takes seconds to read: not on the event loop, where it would hold up
        # every other command's acknowledgement (Slack and Discord give up after 3 seconds).
        return await asyncio.to_thread(_search, query, papers)

    async def preview(self, ref: ChannelRef) -> Digest:
        """The digest the channel would get now; marks nothing."""
        now = self.clock()
        channel = await self.stores.channels.get(ref)
        if channel is None:
            return Digest(channel=ref, items=(), title=digest_title(now))
        # This channel's subscriptions only: reading every channel's each time made a preview
        # as slow as the number of subscriptions in the database.
        self.book.sync_channel(ref, await self.stores.channels.subscriptions(ref))
        title = digest_title(now, channel.schedule)
        order = await self._order(ref)
        if order is None:  # ranked as ever: the database can count and order it
            digest = await self._ranked_digest(channel, now, title)
            if digest is not None:
                return digest
        return build_digest(channel, await self.unposted_matches(channel, now), title, order)

    async def _ranked_digest(self, channel: Channel, now: datetime, title: str) -> Digest | None:
        """The digest of a channel ranked as ever (no learned order), counted and ranked by the
        store's text index: only the papers shown are read and matched, so a preview costs
        what it shows, not its window. None where the index cannot decide the channel's
        subscriptions alone, or disagrees with the matcher on the papers it picked (the
        caller then reads the window)."""
        ref = channel.ref
        queries = [parse(self.book.subs[sid].query) for sid in self.book.channel_subs.get(ref, ())]
        start = self.window_start(channel, now)
        cap = max(1, channel.settings.max_items)
        found = await self.stores.papers.unposted_ranked(
            ref, queries, start, now, cap, channel.settings.min_upvotes
        )
        if found is None:
            return None
        papers = await self.stores.papers.load(found.ids)
        digest = build_digest(channel, self.book.matches_for(ref, papers), title)
        if [m.paper.id for m in digest.items] != found.ids:
            log.warning("index and matcher disagree on %s's digest; reading its window", ref)
            return None
        return replace(digest, more=found.total - len(found.ids))

    async def _order(
        self, ref: ChannelRef, votes: Sequence[Vote] | None = None
    ) -> Callable[[list[Match]], list[Match]] | None:
        """How the channel's digest is ordered: by its learned taste once it has voted enough,
        else None (ranked as ever). Subscriptions decide what is in it; votes, the order."""
        taste = await self.ranking.taste(ref, votes)
        return None if taste is None else partial(self.ranking.ranker.order, taste)

    async def rank_for(self, ref: ChannelRef, matches: Sequence[Match]) -> list[Match]:
        """`matches` in the channel's order: learned where it has voted, else as ever."""
        order = await self._order(ref)
        ranked = rank(matches)
        return order(ranked) if order is not None else ranked

    def chat_for(self, ref: ChannelRef) -> Chat:
        """The chat adapter for the channel's platform, or NoChatForPlatform."""
        chat = self.chats.get(ref.platform)
        if chat is None:
            raise NoChatForPlatform(
                f"{ref.platform} is not configured in this process, so {ref} cannot be posted to"
            )
        return chat

    async def run_digest(self, ref: ChannelRef) -> DeliveryReport:
        """Build the channel's digest now, record it in the ledger, and post it (a command or
        the CLI). Pages left open by an earlier run are posted first."""
        return await self._deliver(ref, None, None)

    async def run_slot(self, ref: ChannelRef, slot: datetime) -> DeliveryReport:
        """Serve the scheduled `slot`: as run_digest, unless the channel's last digest is at or
        after it (served already, by another replica or before a restart)."""
        return await self._deliver(ref, slot, None)

    async def run_in_round(self, ref: ChannelRef, slot: datetime, round: Round) -> DeliveryReport:
        """Serve the scheduled `slot` from a round's papers, read and matched once for many
        channels (see Scheduler.sweep)."""
        return await self._deliver(ref, slot, round)

    async def _deliver(
        self, ref: ChannelRef, slot: datetime | None, round: Round | None
    ) -> DeliveryReport:
        """Open pages first, then (unless `slot` was served) a new digest, recorded then posted.

        With a `round`, the window ends where the round's papers were read (a paper stored
        after it is left for the next digest, not skipped), the index is not synced again, and
        the ledger is only read for what the round did not already read.
        """
        chat = self.chat_for(ref)
        async with self.stores.locks.hold(ref) as got:
            if not got:
                return DeliveryReport(ref, note="another process is posting to this channel")
            channel = await self.stores.channels.get(ref)
            if channel is None:
                return DeliveryReport(ref, note="unknown channel")
            if not channel.active:
                return DeliveryReport(ref, note="channel inactive")
            if channel.paused:  # nothing goes out, not even pages waiting for a retry
                return DeliveryReport(ref, note="the channel is paused (`resume` ends it)")
            ledger = self.stores.deliveries
            if round is None:  # first: pages rebuilt for a retry show their matched terms
                await self.sync_subscriptions()
            has_open = round is None or str(ref) in round.open_channels
            open_pages = await ledger.open_pages(ref) if has_open else []
            report = await self.poster.flush(chat, channel, open_pages)
            now = self.clock()
            if report.blocked:
                return report
            if slot is not None and channel.last_digest_at and channel.last_digest_at >= slot:
                return report
            if slot is None and not self.book.channel_subs.get(ref):
                # Nothing to match: the channel's first digest keeps its window for later.
                return replace(report, note=report.note or "the channel follows nothing yet")
            delivered: Set[str] | None = None
            if round is None:
                # The window ends when it is read, inside the store's gate: a paper stamped
                # before then is in it, one stored after is in the next digest's.
                start = self.window_start(channel, now)
                papers, end = await self.stores.papers.seen_since(start, self.clock)
                matched = self.match(papers).for_channel(ref)
            else:
                # The round read the ledger before this lock: any digest recorded since then
                # moved the channel past the slot, which was checked above.
                end, matched = round.read_at, round.matched.for_channel(ref)
                delivered = round.delivered.get(str(ref), set())
            matches = await self.unposted_matches(channel, end, matched, delivered)
            votes = None if round is None or round.votes is None else round.votes.get(str(ref), ())
            order = await self._order(ref, votes) if matches else None
            digest = build_digest(channel, matches, digest_title(now, channel.schedule), order)
            pages = chat.paginate(digest) if not digest.empty else []
            # The first page is claimed as it is written: one transaction fewer per digest.
            new_pages = [
                LedgerPage(
                    delivery_id=uuid.uuid4().hex,
                    paper_ids=tuple(m.paper.id for m in page.items),
                    page=page.page,
                    pages=page.pages,
                    more=page.more,
                    state="sending" if i == 0 else "pending",
                    attempts=1 if i == 0 else 0,
                )
                for i, page in enumerate(pages)
            ]
            await ledger.record(ref, new_pages, digest_at=end, now=now)
            claimed = {new_pages[0].delivery_id} if new_pages else set()
            posted = await self.poster.flush(chat, channel, new_pages, known=pages, claimed=claimed)
            if posted.posted:
                self.metrics.digest(ref.platform)
            return DeliveryReport(
                ref,
                posted=report.posted + posted.posted,
                papers=report.papers + posted.papers,
                pending=report.pending + posted.pending,
                more=digest.more,
                note=posted.note or report.note,
                blocked=posted.blocked,
            )

    async def flush(self, ref: ChannelRef) -> DeliveryReport:
        """Post the channel's open pages (retries after failures and crashes)."""
        chat = self.chat_for(ref)
        async with self.stores.locks.hold(ref) as got:
            if not got:
                return DeliveryReport(ref, note="another process is posting to this channel")
            channel = await self.stores.channels.get(ref)
            if channel is None or not channel.active:
                return DeliveryReport(ref, note="channel inactive or unknown")
            if channel.paused:
                return DeliveryReport(ref, note="the channel is paused (`resume` ends it)")
            pages = await self.stores.deliveries.open_pages(ref)
            return await self.poster.flush(chat, channel, pages)


def _search(query: Query, papers: Sequence[Paper]) -> list[Match]:
    """The `papers` that match `query`, with their hits, best first."""
    found = []
    for paper in papers:
        hits = explain(query, paper)
        if hits is not None:
            found.append(Match(paper, (), hits))
    return rank(found)
