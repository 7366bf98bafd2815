"""The narrow protocols the edges implement: paper sources, chat platforms, the clock and the
timer that wakes the scheduler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol

from bot.models import ChannelRef, Command, Digest, Paper, Reply

Clock = Callable[[], datetime]
CommandHandler = Callable[[Command], Awaitable[Reply]]


def utcnow() -> datetime:
    """The real clock: an aware UTC datetime."""
    return datetime.now(UTC)


# --- paper sources -------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    """What one poll of a source brought back.

    `cursor` is the source's own opaque state to keep until the next poll (ETags, Last-Modified,
    the newest id seen...); it is stored by the pipeline and handed back to the next `fetch`.
    `bad_entries` counts entries or responses that were dropped as malformed (each also logged).
    `not_modified` is true when every request was answered 304 and nothing was parsed.
    `updates` are revisions of papers (arXiv replacements): merged into stored records, never new.
    `urls` is how each URL went, for a source whose URLs are its configuration (the feeds of
    PAPERBOT_FEEDS): None for an answer, else what went wrong (shown per feed in `status`).
    """

    papers: list[Paper]
    cursor: Mapping[str, str] = field(default_factory=dict)
    updates: list[Paper] = field(default_factory=list)
    bad_entries: int = 0
    not_modified: bool = False
    urls: Mapping[str, str | None] = field(default_factory=dict)


class SourceError(Exception):
    """A poll that failed as a whole (after the source's own retries); the pipeline backs off.

    `urls` is how each URL went, as in FetchResult.urls (empty when the source does not say)."""

    def __init__(self, message: str, urls: Mapping[str, str | None] | None = None) -> None:
        super().__init__(message)
        self.urls: Mapping[str, str | None] = dict(urls or {})


class PaperSource(Protocol):
    """A place papers come from. `fetch` never raises for one bad entry, only for a failed poll."""

    name: str

    async def fetch(self, since: datetime | None, cursor: Mapping[str, str]) -> FetchResult:
        """Papers published or announced since `since` (None: the source's own default window)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


# --- chat platforms ------------------------------------------------------------------------


class ChatError(Exception):
    """A post that failed."""


class TransientChatError(ChatError):
    """Worth retrying later: timeouts, 5xx, rate limits (`retry_after` in seconds when known).

    `uncertain` says the message may have been posted anyway (a timeout or a lost response after
    the request went out): the next attempt looks for it (find_delivery) before posting again.
    """

    def __init__(
        self, message: str, retry_after: float | None = None, *, uncertain: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.uncertain = uncertain


class ChannelUnavailable(ChatError):
    """The bot can no longer post to this channel (removed, archived, kicked): mark it inactive."""


class ChatAuthError(ChatError):
    """The platform rejected our credentials (revoked or invalid token): stop this platform."""


class MessageRejected(ChatError):
    """The platform refused this message as it was sent (a malformed or oversized payload: an
    HTTP 400, Slack's `invalid_blocks`): sending it again unchanged would fail again. Nothing
    was posted. The pipeline tries the page once more as plain text, then sets it aside."""


class Chat(Protocol):
    """A chat platform. Adapters only translate: payloads into Commands, Digests into messages."""

    platform: str

    async def start(self, on_command: CommandHandler) -> None:
        """Connect and start answering commands through `on_command`; returns once started."""
        ...

    def paginate(self, digest: Digest) -> list[Digest]:
        """Split a digest into pages that each fit in one message of this platform."""
        ...

    async def post(
        self,
        channel: ChannelRef,
        page: Digest,
        delivery_id: str,
        *,
        threads: bool = False,
        plain: bool = False,
    ) -> str:
        """Post one page as one message carrying `delivery_id`; return the message id.

        With `threads`, each paper's full abstract follows in the message's thread, where the
        platform has threads (best effort: a failed thread reply never fails the post). With
        `plain`, the page goes in the platform's plainest form (text only: titles and links),
        for a page the platform refused as rendered.
        Raises TransientChatError, ChannelUnavailable, ChatAuthError or MessageRejected.
        """
        ...

    async def find_delivery(self, channel: ChannelRef, delivery_id: str) -> str | None:
        """The id of a message already posted with `delivery_id`, or None if none is found
        (or the platform cannot tell). Used to reconcile a post a crash left unknown."""
        ...

    async def stop(self) -> None:
        """Disconnect."""
        ...


# --- the scheduler's clockwork -------------------------------------------------------------


class Timer(Protocol):
    """Runs coroutines on time. One job per id; a job still running when its time comes again
    is not started twice, and runs missed while the process was busy coalesce into one."""

    @property
    def running(self) -> bool:
        """Whether `start` was called and `shutdown` was not."""
        ...

    def every(
        self,
        job_id: str,
        interval: timedelta,
        job: Callable[..., Awaitable[Any]],
        *args: Any,
        first_at: datetime | None = None,
        catch_up: bool = False,
    ) -> None:
        """Run `job(*args)` every `interval`, first at `first_at` (None: one interval from now);
        `catch_up` runs a late one however late."""
        ...

    def at(
        self,
        job_id: str,
        when: time,
        weekdays: str,
        timezone: str,
        job: Callable[..., Awaitable[Any]],
        *args: Any,
    ) -> None:
        """Run `job(*args)` at `when` in `timezone` on `weekdays` (cron's day_of_week: `*`,
        `mon-fri`, `mon,thu`), however late the process gets to it."""
        ...

    def has(self, job_id: str) -> bool:
        """Whether a job with this id is scheduled."""
        ...

    def remove(self, job_id: str) -> None:
        """Forget the job, if there is one."""
        ...

    def start(self) -> None:
        """Start running jobs."""
        ...

    def pause(self) -> None:
        """Stop starting jobs (the running ones go on)."""
        ...

    def shutdown(self) -> None:
        """Stop for good, without waiting for running jobs."""
        ...


# --- what an operator can watch ------------------------------------------------------------


class Metrics(Protocol):
    """Where the core reports what it did, for an operator's dashboards (adapters/web/metrics.py
    exports it as Prometheus metrics). Every method is cheap and never raises."""

    def polled(self, source: str, new: int, *, failed: bool) -> None:
        """One poll of `source` ended, storing `new` new papers (0 when it failed)."""
        ...

    def matched(self, seconds: float, papers: int) -> None:
        """The matcher ran over `papers` papers in `seconds`."""
        ...

    def post(self, platform: str, outcome: str) -> None:
        """One attempt to post a digest page: `sent`, `retry`, `rejected` (set aside),
        `inactive` (channel gone), `auth` (credentials refused) or `error`."""
        ...

    def digest(self, platform: str) -> None:
        """A digest run posted at least one page."""
        ...

    def command(self, name: str, seconds: float, *, ok: bool) -> None:
        """A chat command was answered in `seconds`."""
        ...


class NullMetrics:
    """Metrics that go nowhere: the default where nothing exports them (tests, one-shot CLI)."""

    def polled(self, source: str, new: int, *, failed: bool) -> None:
        """Ignored."""

    def matched(self, seconds: float, papers: int) -> None:
        """Ignored."""

    def post(self, platform: str, outcome: str) -> None:
        """Ignored."""

    def digest(self, platform: str) -> None:
        """Ignored."""

    def command(self, name: str, seconds: float, *, ok: bool) -> None:
        """Ignored."""
