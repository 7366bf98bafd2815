"""What the core needs from storage: small protocols, implemented by storage/ over SQLAlchemy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from bot.models import Channel, ChannelRef, Paper, Schedule, Subscription
from bot.ports import Clock
from bot.query.language import Query


class DuplicateSubscription(Exception):
    """The channel already has a subscription with this canonical query."""

    def __init__(self, existing: Subscription) -> None:
        super().__init__(f"already subscribed (#{existing.id})")
        self.existing = existing


@dataclass(frozen=True)
class LedgerPage:
    """One message of a digest in the delivery ledger: its papers, in order, and its state."""

    delivery_id: str
    paper_ids: tuple[str, ...]
    page: int = 1
    pages: int = 1
    more: int = 0
    state: str = "pending"
    attempts: int = 0
    due_at: datetime | None = None  # not to be tried before (after a failure)

    def due(self, now: datetime) -> bool:
        """Whether the page may be tried at `now`."""
        return self.due_at is None or self.due_at <= now


@dataclass(frozen=True)
class SourceState:
    """A source's polling state and health."""

    name: str
    cursor: Mapping[str, str] = field(default_factory=dict)
    last_poll_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures: int = 0
    last_count: int = 0
    bad_entries: int = 0
    next_poll_at: datetime | None = None


@dataclass(frozen=True)
class UrlHealth:
    """How one URL of a source (a feed) has been answering: a failure episode runs from
    `failing_since` to the next answer; `noticed_at` is when its one notice went out."""

    source: str
    url: str
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures: int = 0
    failing_since: datetime | None = None
    noticed_at: datetime | None = None


@dataclass(frozen=True)
class PrunePlan:
    """What a prune at a cutoff would delete, and the old papers it keeps."""

    papers: int
    ledger_rows: int
    kept: int  # first seen before the cutoff, but saved, voted on, or still being delivered


@dataclass(frozen=True)
class PrunedBatch:
    """What one batch of a prune deleted."""

    papers: int
    ledger_rows: int


@dataclass(frozen=True)
class Footprint:
    """How big the database is and how far back its papers go."""

    size_bytes: int | None
    oldest_id: str | None
    oldest_first_seen: datetime | None
    traces: int  # pruned papers remembered by id


class UpsertOutcome(Protocol):
    """Result of storing sightings."""

    new: list[Paper]
    updated: int


class RankedIds(Protocol):
    """A query's matches in a window as the store ranked them: how many, and the best ids."""

    total: int
    ids: list[str]


class PaperText(NamedTuple):
    """What the ranking's features read of a stored paper."""

    id: str
    title: str
    abstract: str


class PaperStore(Protocol):
    """Stored papers."""

    async def upsert(
        self, sightings: Iterable[Paper], now: datetime | Clock, *, insert_new: bool = True
    ) -> UpsertOutcome: ...
    async def get_many(self, ids: Sequence[str]) -> dict[str, Paper]: ...
    async def seen_between(self, start: datetime | None, end: datetime) -> list[Paper]: ...
    def texts_between(
        self, start: datetime, end: datetime, size: int = ...
    ) -> AsyncIterator[list[PaperText]]: ...  # oldest first, `size` at a time
    async def seen_since(
        self, start: datetime | None, clock: Clock
    ) -> tuple[list[Paper], datetime]: ...
    async def count(self) -> int: ...
    async def ranked(
        self, query: Query, start: datetime, end: datetime, limit: int
    ) -> RankedIds | None: ...
    async def unposted_ranked(
        self,
        ref: ChannelRef,
        queries: Sequence[Query],
        start: datetime,
        end: datetime,
        limit: int,
        min_upvotes: int = 0,
    ) -> RankedIds | None: ...  # any of `queries`, upvote floor, none in the channel's ledger
    async def candidates(self, query: Query, start: datetime, end: datetime) -> list[str]: ...
    async def load(self, ids: Sequence[str]) -> list[Paper]: ...
    async def most_upvoted(
        self, source: str, start: datetime, end: datetime, limit: int
    ) -> list[Paper]: ...  # first seen in (start, end], sighted by `source`; most upvoted first


class ChannelStore(Protocol):
    """Channels and subscriptions. `subscribe` raises DuplicateSubscription."""

    async def get(self, ref: ChannelRef) -> Channel | None: ...
    async def ensure(self, ref: ChannelRef, default: Schedule, now: datetime) -> Channel: ...
    async def save(self, channel: Channel, before: Channel | None = None) -> None: ...
    async def set_inactive(self, ref: ChannelRef, reason: str) -> None: ...
    async def all(self) -> list[Channel]: ...
    async def subscribe(
        self, ref: ChannelRef, query: str, canonical: str, now: datetime
    ) -> Subscription: ...
    async def subscriptions(self, ref: ChannelRef) -> list[Subscription]: ...
    async def all_subscriptions(self) -> list[Subscription]: ...
    async def unsubscribe(self, ref: ChannelRef, ids: list[int]) -> int: ...


class DeliveryStore(Protocol):
    """The delivery ledger."""

    async def delivered_ids(self, ref: ChannelRef, paper_ids: Sequence[str]) -> set[str]: ...
    async def papers_on_message(self, ref: ChannelRef, message_id: str) -> list[str]: ...
    async def delivered_by_channel(self, paper_ids: Sequence[str]) -> dict[str, set[str]]: ...
    async def record(
        self, ref: ChannelRef, pages: Sequence[LedgerPage], digest_at: datetime, now: datetime
    ) -> None: ...
    async def open_pages(
        self, ref: ChannelRef, now: datetime | None = None
    ) -> list[LedgerPage]: ...
    async def claim(self, delivery_id: str, now: datetime) -> bool: ...
    async def mark_sent(self, delivery_id: str, message_id: str, now: datetime) -> None: ...
    async def release(self, delivery_id: str, error: str, retry_at: datetime | None) -> None: ...
    async def defer(self, delivery_id: str, error: str, retry_at: datetime) -> None: ...
    async def reject(self, delivery_id: str, error: str) -> None: ...
    async def requeue(self, ref: ChannelRef | None = None) -> tuple[int, int]: ...
    async def set_aside(self) -> dict[str, str]: ...
    async def counts(self) -> dict[str, dict[str, int]]: ...
    async def channels_with_open_pages(self) -> set[str]: ...


class SourceStateStore(Protocol):
    """Sources' polling state."""

    async def get(self, name: str) -> SourceState: ...
    async def all(self) -> list[SourceState]: ...
    async def save(self, state: SourceState) -> None: ...


class SourceUrlStore(Protocol):
    """The health of each URL of the sources that report it (the feeds)."""

    async def record(
        self, source: str, outcomes: Mapping[str, str | None], now: datetime
    ) -> list[UrlHealth]: ...
    async def all(self) -> list[UrlHealth]: ...
    async def claim_notice(
        self, source: str, url: str, failing_before: datetime, now: datetime
    ) -> bool: ...


class RetentionStore(Protocol):
    """Pruning old papers: each deleted paper leaves its id behind as a trace."""

    async def plan(self, cutoff: datetime) -> PrunePlan: ...
    async def prune_batch(self, cutoff: datetime, limit: int, now: datetime) -> PrunedBatch: ...
    async def footprint(self) -> Footprint: ...


@dataclass(frozen=True, slots=True)  # (a sweep holds every voting channel's votes)
class Vote:
    """One person's vote on a paper in a channel: +1 like, -1 dislike; with the paper's text
    as it was voted on (it trains the ranking after the paper is pruned)."""

    channel: str  # the channel id, as ChannelRef prints it
    user: str
    paper_id: str
    value: int
    title: str = ""
    abstract: str = ""
    message: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class SavedPaper:
    """A paper a channel saved: who, when, and the paper as it was then."""

    paper: Paper
    user: str
    message: str | None = None
    at: datetime | None = None


class VoteStore(Protocol):
    """Votes, one per (channel, user, paper)."""

    async def get(self, ref: ChannelRef, user: str, paper_id: str) -> Vote | None: ...
    async def put(self, vote: Vote) -> None: ...
    async def remove(self, ref: ChannelRef, user: str, paper_id: str) -> bool: ...
    async def for_channel(self, ref: ChannelRef) -> list[Vote]: ...
    async def by_channel(self) -> dict[str, list[Vote]]: ...  # with titles, no abstracts
    async def reset(self, ref: ChannelRef) -> int: ...


class SaveStore(Protocol):
    """Saved papers, one per (channel, paper)."""

    async def add(self, ref: ChannelRef, saved: SavedPaper) -> bool: ...
    async def remove(self, ref: ChannelRef, paper_id: str) -> bool: ...
    async def for_channel(self, ref: ChannelRef) -> list[SavedPaper]: ...
    async def count(self, ref: ChannelRef) -> int: ...


class ChannelLocks(Protocol):
    """Mutual exclusion per channel across every process sharing the database."""

    def hold(self, ref: ChannelRef) -> AbstractAsyncContextManager[bool]:
        """Try to take the channel's lock; yields whether it was taken (never waits long)."""
        ...


class SeenRequests(Protocol):
    """Requests already accepted (replay protection), shared by every replica."""

    async def first_time(self, key: str, until: datetime, now: datetime) -> bool:
        """Record `key` until `until`; False if it was recorded before and has not expired."""
        ...


@dataclass(frozen=True)
class Stores:
    """Every repository, as the composition root wires them."""

    papers: PaperStore
    channels: ChannelStore
    deliveries: DeliveryStore
    sources: SourceStateStore
    locks: ChannelLocks
    urls: SourceUrlStore
    retention: RetentionStore
    seen: SeenRequests
    votes: VoteStore
    saves: SaveStore
