"""`paperbot status`: the sources' and feeds' health, the channels, the deliveries waiting and
the store's footprint, as tables at the terminal's width."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from bot.stores import SourceState
from entry.app import App

out = Console(markup=False, emoji=False)


async def report(app: App) -> None:
    """`paperbot status`: sources, feeds, channels, deliveries and the store, as tables."""
    from bot.delivery.schedules import next_slot

    now = app.pipeline.clock()
    out.print(f"papers stored: {await app.stores.papers.count()}")
    await _footprint(app)
    configured = {name: getattr(src, "describe", lambda: "")() for name, src in app.sources.items()}
    table = Table(
        "source",
        "reads",
        "health",
        "last success",
        "last error",
        "new last poll",
        "bad entries",
        "next poll",
        title="Sources",
    )
    _fold(table)
    states = {st.name: st for st in await app.stores.sources.all()}
    failing = await _failing_urls(app)
    for name in sorted(set(states) | set(configured)):
        st = states.get(name) or SourceState(name=name)
        if st.last_poll_at is None:
            health = "not polled yet"
        elif st.failures:
            health = f"failing ({st.failures} in a row)"
        elif failing.get(name):
            total = len(getattr(app.sources.get(name), "urls", ()))
            health = f"degraded: {failing[name]} of {total} feeds failing"
        else:
            health = "ok"
        if name not in configured:
            health += " (not configured now)"
        table.add_row(
            name,
            configured.get(name, ""),
            health,
            when(st.last_success_at),
            (st.last_error or "")[:60],
            str(st.last_count),
            str(st.bad_entries),
            when(st.next_poll_at),
        )
    _print_table(table)
    await _feeds(app, states.get("feed"))
    counts = await app.stores.deliveries.counts()
    table = Table(
        "channel",
        "state",
        "schedule",
        "next run",
        "last digest",
        "subscriptions",
        "sent",
        "pending",
        "set aside",
        title="Channels",
    )
    _fold(table)
    for ch in await app.stores.channels.all():
        subs = await app.stores.channels.subscriptions(ch.ref)
        c = counts.get(str(ch.ref), {})
        state = "paused" if ch.paused else "active"
        if not ch.active:
            state = f"inactive: {await app.stores.channels.inactive_reason(ch.ref) or '?'}"
        nxt = next_slot(ch.schedule, now) if ch.active and not ch.paused else None
        table.add_row(
            str(ch.ref),
            state,
            ch.schedule.describe(),
            when(nxt),
            when(ch.last_digest_at),
            str(len(subs)),
            str(c.get("sent", 0)),
            str(c.get("pending", 0) + c.get("sending", 0)),
            str(c.get("rejected", 0)),
        )
    _print_table(table)
    reasons = await app.stores.deliveries.set_aside()
    if reasons:
        out.print("Papers set aside were refused by their platform even as plain text:")
        for channel_id, reason in sorted(reasons.items()):
            out.print(f"  {channel_id}: {reason[:160]}", highlight=False)
        out.print("`paperbot requeue` puts them back in line once the cause is fixed.")


async def _footprint(app: App) -> None:
    """The database's size, its oldest paper and the retention that bounds them."""
    foot = await app.stores.retention.footprint()
    size = _size(foot.size_bytes) if foot.size_bytes is not None else "unknown"
    out.print(f"database size: {size}")
    if foot.oldest_first_seen is not None:
        out.print(f"oldest paper: {foot.oldest_id}, first seen {when(foot.oldest_first_seen)}")
    days = app.settings.retention_days
    kept = "off (every paper is kept)" if days is None else f"{days} days, pruned daily"
    out.print(f"retention: {kept}; {foot.traces} pruned papers remembered by id")


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


async def _failing_urls(app: App) -> dict[str, int]:
    """Per source, how many of its configured URLs are failing now."""
    out: dict[str, int] = {}
    for h in await app.stores.urls.all():
        if h.failing_since and h.url in getattr(app.sources.get(h.source), "urls", ()):
            out[h.source] = out.get(h.source, 0) + 1
    return out


async def _feeds(app: App, source: SourceState | None) -> None:
    """Each configured feed URL: its last answer, last error and when it is tried next."""
    urls = list(getattr(app.sources.get("feed"), "urls", ()))
    if not urls:
        return
    known = {h.url: h for h in await app.stores.urls.all() if h.source == "feed"}
    table = Table("feed", "health", "last success", "last error", "backoff", title="Feeds")
    _fold(table)
    for url in urls:
        h = known.get(url)
        if h is None:
            health = "not polled yet"
        elif h.failing_since is not None:
            polls = "poll" if h.failures == 1 else "polls"
            health = f"failing since {when(h.failing_since)} ({h.failures} {polls} in a row)"
            if h.noticed_at:
                health += "; notice posted"
        else:
            health = "ok"
        table.add_row(
            url,
            health,
            when(h.last_success_at if h else None),
            f"{when(h.last_error_at)}: {(h.last_error or '')[:80]}" if h and h.last_error else "-",
            _backoff(source),
        )
    _print_table(table)


def _backoff(source: SourceState | None) -> str:
    """When the feeds are tried next: the feed source's next poll, backed off while every feed
    fails (a feed failing among others that answer is tried again at each poll)."""
    if source is None or source.next_poll_at is None:
        return "-"
    if source.failures and source.last_poll_at:
        wait = source.next_poll_at - source.last_poll_at
        hours = wait.total_seconds() / 3600
        return f"backed off {hours:g} h: next try {when(source.next_poll_at)}"
    return f"none: next poll {when(source.next_poll_at)}"


def when(value: Any) -> str:
    """A time as the status tables show it (UTC), or `-`."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _print_table(table: Table) -> None:
    """A table at the terminal's width; piped or redirected (80 columns by default), with room
    to be read."""
    wide = Console(markup=False, emoji=False, width=None if out.is_terminal else 200)
    wide.print(table)


def _fold(table: Table) -> None:
    """Long values wrap onto more lines instead of being cut (`conso…` says nothing)."""
    for column in table.columns:
        column.overflow = "fold"
