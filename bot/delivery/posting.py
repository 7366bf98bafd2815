"""Posting a channel's ledger pages: in order, each claimed before it is posted and marked
sent after, a failure retried with backoff, set aside, or stopping the channel or platform."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import takewhile

from bot.delivery.digest import digest_title
from bot.delivery.schedules import period
from bot.models import Channel, ChannelRef, Digest, Match
from bot.ports import (
    ChannelUnavailable,
    Chat,
    ChatAuthError,
    Clock,
    MessageRejected,
    Metrics,
    TransientChatError,
)
from bot.query.matchbook import MatchBook
from bot.stores import LedgerPage, Stores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryReport:
    """What one digest run did for one channel."""

    channel: ChannelRef
    posted: int = 0
    papers: int = 0
    pending: int = 0
    more: int = 0
    note: str | None = None
    blocked: bool = False  # the channel or its platform cannot be posted to now


class Poster:
    """Posts pages the ledger holds for a channel, exactly as recorded (see DeliveryStore).

    `disabled_platforms` is shared with its owner: a platform that rejected the bot's
    credentials is written there and posted to no more, and one that could not start is put
    there by the runner.
    """

    def __init__(
        self,
        stores: Stores,
        clock: Clock,
        book: MatchBook,
        metrics: Metrics,
        disabled_platforms: dict[str, str],
        *,
        retry_base: float,
        retry_max: float,
    ) -> None:
        self.stores = stores
        self.clock = clock
        self.book = book
        self.metrics = metrics
        self.disabled_platforms = disabled_platforms
        self.retry_base = retry_base
        self.retry_max = retry_max

    async def flush(
        self,
        chat: Chat,
        channel: Channel,
        pages: Sequence[LedgerPage],
        known: Sequence[Digest] = (),
        claimed: set[str] | frozenset[str] = frozenset(),
    ) -> DeliveryReport:
        """Post the channel's open `pages` that are due, in order; stop at the first failure.

        `known` are the rendered pages of a digest just built (so they are not rebuilt);
        `claimed` are delivery ids this call already holds as sending (written so by record).
        """
        ref = channel.ref
        ledger = self.stores.deliveries
        posted = papers = 0
        note = None
        blocked = False
        waiting = sum(len(p.paper_ids) for p in pages)
        if ref.platform in self.disabled_platforms:
            return DeliveryReport(
                ref, pending=waiting, note=self.disabled_platforms[ref.platform], blocked=True
            )
        now = self.clock()
        # In order, up to the first page still waiting for its retry time: the pages after it
        # wait too, so a digest never arrives out of order ("and N more" before its top items).
        pages = list(takewhile(lambda p: p.due(now), pages))
        prebuilt = {tuple(m.paper.id for m in d.items): d for d in known}
        for page in pages:
            if page.delivery_id not in claimed:
                if page.state == "sending":
                    # A crash or a lost answer left this post's outcome unknown: look first.
                    found = await self._find(chat, ref, page.delivery_id)
                    if found:
                        await ledger.mark_sent(page.delivery_id, found, self.clock())
                        waiting -= len(page.paper_ids)
                        log.info("delivery %s to %s was already posted", page.delivery_id, ref)
                        continue
                    await ledger.release(page.delivery_id, "outcome unknown", None)
                if not await ledger.claim(page.delivery_id, self.clock()):
                    continue
            digest = prebuilt.get(page.paper_ids) or await self._rebuild(channel, page)
            try:
                message_id = await self._post(chat, channel, digest, page.delivery_id)
            except MessageRejected as exc:
                # Refused even as plain text: set aside (kept, shown in `status`, brought back
                # by `paperbot requeue`) so this page cannot hold up the channel's next ones.
                await ledger.reject(page.delivery_id, str(exc))
                waiting -= len(page.paper_ids)
                log.error(
                    "%s refused delivery %s (%d papers) even as plain text; set aside: %s",
                    ref.platform,
                    page.delivery_id,
                    len(page.paper_ids),
                    exc,
                )
                note = f"{len(page.paper_ids)} papers set aside, refused by {ref.platform}: {exc}"
                self.metrics.post(ref.platform, "rejected")
                continue
            except TransientChatError as exc:
                delay = self._retry_delay(page.attempts + 1, exc.retry_after)
                await self._retry(page, str(exc), delay, uncertain=exc.uncertain)
                log.warning(
                    "post to %s failed, retrying in %.0fs: %s", ref, delay.total_seconds(), exc
                )
                note = f"will retry: {exc}"
                self.metrics.post(ref.platform, "retry")
                break
            except ChannelUnavailable as exc:
                await ledger.release(page.delivery_id, str(exc), None)
                await self.stores.channels.set_inactive(ref, str(exc))
                log.warning("channel %s marked inactive: %s", ref, exc)
                note = f"channel marked inactive: {exc}"
                self.metrics.post(ref.platform, "inactive")
                blocked = True
                break
            except ChatAuthError as exc:
                await ledger.release(page.delivery_id, str(exc), None)
                self.disabled_platforms[ref.platform] = f"{ref.platform} posting stopped: {exc}"
                log.error(
                    "%s rejected our credentials; posting there stopped: %s", ref.platform, exc
                )
                note = self.disabled_platforms[ref.platform]
                self.metrics.post(ref.platform, "auth")
                blocked = True
                break
            except Exception as exc:  # outcome unknown: look for it before posting again
                delay = self._retry_delay(page.attempts + 1, None)
                await self._retry(page, repr(exc), delay, uncertain=True)
                log.exception("post to %s failed unexpectedly", ref)
                note = f"will retry: {exc!r}"
                self.metrics.post(ref.platform, "error")
                break
            await ledger.mark_sent(page.delivery_id, message_id, self.clock())
            self.metrics.post(ref.platform, "sent")
            posted += 1
            papers += len(page.paper_ids)
        return DeliveryReport(
            ref, posted=posted, papers=papers, pending=waiting - papers, note=note, blocked=blocked
        )

    async def _post(self, chat: Chat, channel: Channel, page: Digest, delivery_id: str) -> str:
        """Post a page; if the platform refuses it as rendered, once more as plain text (the
        refused message was not posted, so this cannot post it twice)."""
        try:
            return await chat.post(channel.ref, page, delivery_id, threads=channel.settings.threads)
        except MessageRejected as exc:
            log.warning(
                "%s refused delivery %s as rendered (%s); posting it as plain text",
                channel.ref.platform,
                delivery_id,
                exc,
            )
            return await chat.post(channel.ref, page, delivery_id, plain=True)

    async def _retry(
        self, page: LedgerPage, error: str, delay: timedelta, *, uncertain: bool
    ) -> None:
        retry_at = self.clock() + delay
        if uncertain:
            await self.stores.deliveries.defer(page.delivery_id, error, retry_at)
        else:
            await self.stores.deliveries.release(page.delivery_id, error, retry_at)

    async def _find(self, chat: Chat, ref: ChannelRef, delivery_id: str) -> str | None:
        try:
            return await chat.find_delivery(ref, delivery_id)
        except Exception as exc:  # cannot tell: post again (the documented at-least-once window)
            log.warning("could not look up delivery %s in %s: %s", delivery_id, ref, exc)
            return None

    async def _rebuild(self, channel: Channel, page: LedgerPage) -> Digest:
        """A recorded page as a Digest again (after a restart or a failed post)."""
        found = await self.stores.papers.get_many(list(page.paper_ids))
        papers = [found[pid] for pid in page.paper_ids if pid in found]
        matched = {m.paper.id: m for m in self.book.matches_for(channel.ref, papers)}
        items = tuple(matched.get(p.id) or Match(p, (), ()) for p in papers)
        return Digest(
            channel=channel.ref,
            items=items,
            more=page.more,
            title=digest_title(self.clock(), channel.schedule),
            page=page.page,
            pages=page.pages,
            period=period(channel.schedule),
        )

    def _retry_delay(self, attempt: int, retry_after: float | None) -> timedelta:
        """Exponential backoff with jitter, at least the platform's Retry-After, at most
        `retry_max` (unless Retry-After asks for more)."""
        base = min(self.retry_max, self.retry_base * 2 ** min(attempt - 1, 20))
        delay = base / 2 + random.uniform(0, base / 2)
        return timedelta(seconds=max(delay, retry_after or 0.0))
