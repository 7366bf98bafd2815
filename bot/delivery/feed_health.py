"""Each feed's health, recorded per poll, and the one notice of a feed failing for a day."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from bot.models import Channel, Digest
from bot.ports import Chat
from bot.stores import Stores, UrlHealth

log = logging.getLogger(__name__)

NOTICE_AFTER = timedelta(days=1)


def notice_text(health: UrlHealth) -> str:
    """The notice posted when a feed has been failing for a day (fits a Slack header)."""
    since = f"{health.failing_since:%d %b %H:%M} UTC" if health.failing_since else "a day"
    return f"⚠ Feed failing since {since}, digests miss its papers: {health.url}"


async def record_urls(
    stores: Stores,
    chats: Mapping[str, Chat],
    source: str,
    outcomes: Mapping[str, str | None],
    now: datetime,
) -> int:
    """Store how each URL of one poll went; for a URL failing for a day whose episode has no
    notice yet, post one into every channel that depends on it and opted in. Returns how many
    notices were posted. Never raises: health is reported, it does not stop a poll."""
    if not outcomes:
        return 0
    try:
        states = await stores.urls.record(source, outcomes, now)
        posted = 0
        for health in states:
            if health.failing_since is None or health.noticed_at is not None:
                continue
            if now - health.failing_since < NOTICE_AFTER:
                continue
            # One notice per episode, whichever replica or process polls: the claim decides.
            if not await stores.urls.claim_notice(source, health.url, now - NOTICE_AFTER, now):
                continue
            posted += await _post_notice(stores, chats, health)
        return posted
    except Exception:
        log.exception("recording the health of %s's URLs failed", source)
        return 0


async def depending_channels(stores: Stores) -> list[Channel]:
    """The channels whose digests depend on a feed and that opted in to notices.

    Every subscription is matched against every configured source's papers, so each active,
    unpaused channel that follows anything depends on every configured feed."""
    following = {str(s.channel) for s in await stores.channels.all_subscriptions()}
    return [
        c
        for c in await stores.channels.all()
        if c.settings.notices and c.active and not c.paused and str(c.ref) in following
    ]


async def _post_notice(stores: Stores, chats: Mapping[str, Chat], health: UrlHealth) -> int:
    posted = 0
    text = notice_text(health)
    for channel in await depending_channels(stores):
        chat = chats.get(channel.ref.platform)
        if chat is None:
            continue
        try:
            await chat.post(channel.ref, Digest(channel.ref, (), title=text), uuid.uuid4().hex)
            posted += 1
        except Exception as exc:  # a notice is best effort: the feed's state is in `status`
            log.warning("notice about %s to %s failed: %s", health.url, channel.ref, exc)
    log.warning(
        "feed %s failing since %s: notice posted to %d channel(s)",
        health.url,
        health.failing_since,
        posted,
    )
    return posted
