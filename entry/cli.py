"""The `paperbot` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from bot.commands.base import command_name
from bot.inbound import clean, unreadable_at
from bot.models import ChannelRef, Command, InvalidChannelId, Match
from bot.query.language import QueryError, parse
from config.settings import Settings, SettingsError, load_settings
from entry.app import App, open_app
from entry.logs import formatter
from entry.runner import RunError
from entry.status import report, when
from storage import DatabaseError
from storage.locks import AlreadyRunning, holding_database

cli = typer.Typer(
    help="paperbot: new research papers, matched to your subscriptions, in your team chat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Database maintenance.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            out.print(f"paperbot {version('paperbot')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            out.print("paperbot (not installed)")
        raise typer.Exit()


@cli.callback()
def _main(
    _: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """paperbot: new research papers, matched to your subscriptions, in your team chat."""


cli.add_typer(db_cli, name="db")

# Paper titles, channel ids and error messages are printed as they are: no Rich markup or
# emoji codes read in them (a `[/]` would raise, `:a:` would become an emoji).
out = Console(markup=False, emoji=False)
err = Console(stderr=True, markup=False, emoji=False)
T = TypeVar("T")

DEMO_CHANNEL = "console:local:general"
DEMO_QUERIES = ("diffusion", '"large language model" reasoning', "(video OR audio) generation")


class Failure(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _settings(*, service: bool = False, **overrides: Any) -> Settings:
    """Read settings; logs go to stderr, at PAPERBOT_LOG_LEVEL for the bot and warnings and
    up for one-shot commands (whose output is what they print)."""
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        raise Failure(str(exc)) from None
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        raise Failure(
            f"PAPERBOT_LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, not {settings.log_level!r}"
        )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(settings.log_format))
    logging.basicConfig(
        level=level if service or level < logging.INFO else logging.WARNING, handlers=[handler]
    )
    for chatty in ("alembic", "apscheduler", "httpx"):  # a line per job run or request
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
    return settings


def _run(main: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(main())
    except (Failure, DatabaseError, InvalidChannelId, RunError, SettingsError) as exc:
        err.print(Text.assemble(("error:", "red"), f" {exc}"), highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _sole_poster(settings: Settings) -> contextlib.ExitStack:
    """On SQLite, the lock `paperbot run` holds while it runs: a command that posts takes it
    too, so the two never post to a channel at once (PostgreSQL has per-channel locks)."""
    try:
        return holding_database(settings.database_url)
    except AlreadyRunning as exc:
        raise Failure(
            f"paperbot run (pid {exc.holder}) is posting from this database: ask it for a "
            "digest in the chat (`/papers digest`), or stop it first"
        ) from None


def _channel(text: str) -> ChannelRef:
    try:
        return ChannelRef.parse(clean(text))
    except InvalidChannelId as exc:
        raise Failure(str(exc)) from None


async def _command(app: App, channel: ChannelRef, text: str) -> bool:
    # argv bytes that are not UTF-8 arrive as lone surrogates (surrogateescape): cleaned here.
    reply = await app.handler(Command(channel=channel, user="cli", text=clean(text)))
    if reply.attachment is not None:  # an export: the file on stdout, the note on stderr
        sys.stdout.buffer.write(reply.attachment.content)
        sys.stdout.flush()
        err.print(reply.text.replace("**", "").replace("`", ""), highlight=False)
        return not reply.error
    app.console.show_reply(reply)
    return not reply.error


@cli.command()
def demo() -> None:
    """Run the real pipeline offline: sample papers, a fresh database, a digest in the terminal."""

    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix="paperbot-demo-") as tmp:
            settings = _settings(
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}", sources=["sample"]
            )
            async with open_app(settings) as app:
                channel = ChannelRef.parse(DEMO_CHANNEL)
                out.rule("1. poll the sample source")
                for report in await app.pipeline.poll_all(force=True):
                    out.print(f"{report.source}: {len(report.new)} new papers stored")
                out.rule(f"2. subscribe {channel}")
                for query in DEMO_QUERIES:
                    out.print(
                        f"$ paperbot command 'subscribe {query}'", style="dim", highlight=False
                    )
                    reply = await app.handler(Command(channel, "demo", f"subscribe {query}"))
                    app.console.show_reply(replace(reply, matches=()))
                    for match in reply.matches:
                        out.print(f"  • {match.paper.title}", highlight=False)
                out.rule("3. the digest")
                report = await app.pipeline.run_digest(channel)
                out.rule()
                out.print(
                    f"{report.papers} papers posted to {channel}"
                    + (
                        f"; {report.more} more matched (`paperbot search` finds them)"
                        if report.more
                        else ""
                    )
                )

    _run(main)


@cli.command()
def poll(
    source: Annotated[str | None, typer.Option(help="Poll only this source.")] = None,
) -> None:
    """Poll the sources once now and say what was new."""

    async def main() -> None:
        settings = _settings()
        names = [source] if source else None
        if source and source not in ("huggingface", "arxiv", "feed", "sample"):
            raise Failure(f"unknown source {source!r}: expected huggingface, arxiv, feed or sample")
        async with open_app(settings, sources=names) as app:
            failed = False
            for report in await app.pipeline.poll_all(force=True):
                if report.error:
                    failed = True
                    out.print(f"{report.source}: failed: {report.error}", style="red")
                    continue
                extra = " (not modified)" if report.not_modified else ""
                bad = f", {report.bad_entries} bad entries dropped" if report.bad_entries else ""
                out.print(
                    f"{report.source}: {len(report.new)} new, {report.updated} updated{bad}{extra}"
                )
                for paper in report.new[:10]:
                    out.print(f"  + {paper.title}", highlight=False)
                if len(report.new) > 10:
                    out.print(f"  … and {len(report.new) - 10} more")
            if failed:
                raise typer.Exit(1)

    _run(main)


@cli.command()
def digest(
    channel: Annotated[str, typer.Option(help="platform:workspace:channel")],
    dry_run: Annotated[bool, typer.Option(help="Show the digest without posting it.")] = False,
) -> None:
    """Build (and post) one channel's digest now."""

    async def main() -> None:
        ref = _channel(channel)
        settings = _settings()
        with contextlib.nullcontext() if dry_run else _sole_poster(settings):
            await _digest(settings, ref, dry_run=dry_run)

    _run(main)


async def _digest(settings: Settings, ref: ChannelRef, *, dry_run: bool) -> None:
    async with open_app(settings) as app:
        if dry_run:
            preview = await app.pipeline.preview(ref)
            if preview.empty:
                out.print("Nothing to post: no new paper matches this channel.")
                return
            await app.console.post(ref, preview, "dry-run")
            out.print("Dry run: nothing was posted or marked as posted.")
            return
        if await app.stores.channels.get(ref) is None:  # a typo must not make a channel
            raise Failure(
                f"no channel {ref}: `paperbot status` lists them, and a channel starts with "
                f'`paperbot command --channel {ref} "subscribe <query>"`'
            )
        try:
            report = await app.pipeline.run_digest(ref)
        except Exception as exc:
            raise Failure(str(exc)) from None
        # Nothing retries inside this one-shot run: a failed page waits in the ledger for
        # `paperbot run` (its next sweep) or the next `paperbot digest`.
        note = report.note or ""
        if note.startswith("will retry: "):
            note = "posting failed: " + note.removeprefix("will retry: ")
        if report.posted:
            papers = f"{report.papers} paper" + ("" if report.papers == 1 else "s")
            out.print(f"Posted {papers} to {ref} in {report.posted} message(s).")
            if note:
                out.print(note)
        else:
            out.print(f"Nothing posted to {ref}" + (f": {note}" if note else "."))
        if report.pending:
            out.print(
                f"{report.pending} papers are waiting in the ledger: `paperbot run` posts them "
                "on its next sweep, or run `paperbot digest` again."
            )
        failed = report.blocked or report.pending or "set aside" in note or "failed" in note
        if not report.posted and failed:
            raise typer.Exit(1)


@cli.command()
def command(
    text: Annotated[str, typer.Argument(help='The chat command, e.g. "subscribe diffusion".')],
    channel: Annotated[str, typer.Option(help="platform:workspace:channel")] = DEMO_CHANNEL,
) -> None:
    """Run any chat command from the terminal, as the channel's admin."""

    async def main() -> bool:
        ref = _channel(channel)
        settings = _settings()
        posts = command_name(text) == "digest"
        with _sole_poster(settings) if posts else contextlib.nullcontext():
            async with open_app(settings) as app:
                return await _command(app, ref, text)

    if not _run(main):
        raise typer.Exit(1)


def _match_json(match: Match) -> dict[str, Any]:
    p = match.paper
    return {
        "id": p.id,
        "title": p.title,
        "authors": list(p.authors),
        "url": p.url,
        "pdf_url": p.pdf_url,
        "code_url": p.code_url,
        "upvotes": p.upvotes,
        "categories": list(p.categories),
        "first_seen": p.first_seen.isoformat() if p.first_seen else None,
        "published": p.published.isoformat() if p.published else None,
        "matched_terms": list(match.terms),
        "score": match.score,
        "because": match.because,
        "hits": [
            {"field": h.field, "term": h.term, "start": h.start, "end": h.end} for h in match.hits
        ],
    }


@cli.command()
def search(
    query: Annotated[str, typer.Argument(help="A subscription query.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    days: Annotated[int, typer.Option(min=1, help="How far back to search.")] = 30,
    channel: Annotated[
        str | None,
        typer.Option(help="Rank by this channel's votes (score, because), once it has voted."),
    ] = None,
) -> None:
    """Search the stored papers."""

    async def main() -> None:
        text = clean(query)
        if (column := unreadable_at(text)) is not None:
            raise Failure(f"bad query: a character that could not be read at column {column}")
        try:
            parsed = parse(text)
        except QueryError as exc:
            raise Failure(f"bad query: {exc}") from None
        ref = _channel(channel) if channel else None
        async with open_app(_settings()) as app:
            if ref is None:
                found = (await app.pipeline.find(parsed, days, limit)).matches
            else:  # the channel's order over more than the keyword-best few
                found = (await app.pipeline.find(parsed, days, max(limit, 200))).matches
                found = (await app.pipeline.rank_for(ref, found))[:limit]
            if as_json:
                out.print_json(json.dumps([_match_json(m) for m in found]))
                return
            if not found:
                out.print(f"No stored paper of the last {days} days matches `{parsed.canonical}`.")
                return
            from adapters.console.chat import render_matches

            for text in render_matches(found):
                out.print(text)

    _run(main)


@cli.command()
def status() -> None:
    """Sources' health, channels and pending deliveries."""

    async def main() -> None:
        async with open_app(_settings()) as app:
            await report(app)

    _run(main)


@cli.command()
def prune(
    dry_run: Annotated[
        bool, typer.Option(help="Say what would be pruned, and delete nothing.")
    ] = False,
) -> None:
    """Prune papers older than PAPERBOT_RETENTION_DAYS that no channel saved (the bot does it daily)."""

    async def main() -> None:
        from bot.delivery.retention import prune as run_prune
        from entry.app import retention

        settings = _settings()
        keep = retention(settings)
        if keep is None:
            raise Failure("PAPERBOT_RETENTION_DAYS is off: every paper is kept, nothing to prune")
        # On SQLite the running bot prunes daily itself: one writer at a time.
        with contextlib.nullcontext() if dry_run else _sole_poster(settings):
            async with open_app(settings, sources=[]) as app:
                report = await run_prune(
                    app.stores.retention, keep, app.pipeline.clock, dry_run=dry_run
                )
        before = f"first seen before {when(report.cutoff)}"
        if dry_run:
            out.print(
                f"Would prune {report.papers} papers {before} and {report.ledger_rows} ledger "
                f"rows; {report.kept} older papers are kept (saved, voted on, or being delivered)."
                " Nothing was deleted."
            )
            return
        out.print(
            f"Pruned {report.papers} papers {before} and {report.ledger_rows} ledger rows "
            f"in {report.batches} batch(es); their ids are kept, so they are never posted again."
        )

    _run(main)


@cli.command()
def requeue(
    channel: Annotated[
        str | None, typer.Option(help="platform:workspace:channel (default: every channel)")
    ] = None,
) -> None:
    """Put digest pages a platform refused back in line, to be posted on the next run."""

    async def main() -> None:
        ref = _channel(channel) if channel else None
        async with open_app(_settings()) as app:
            pages, papers = await app.stores.deliveries.requeue(ref)
        where = f" for {ref}" if ref else ""
        if not pages:
            out.print(f"Nothing is set aside{where}.")
            return
        out.print(
            f"Requeued {papers} papers in {pages} message(s){where}: `paperbot run` posts them "
            "on its next sweep, `paperbot digest --channel ...` at once."
        )

    _run(main)


@cli.command()
def run() -> None:
    """Run the bot: scheduler, sources, and every platform whose tokens are set."""
    from entry.runner import run_bot

    _run(lambda: run_bot(_settings(service=True)))


@cli.command()
def doctor() -> None:
    """Check settings, database, platform credentials, sources and the matcher; exit 0 if all pass."""
    from entry.doctor import Check, run_checks

    try:
        settings = load_settings()
    except SettingsError as exc:
        out.print(
            Check("settings", False, str(exc), "fix that setting (config/example.env)").line()
        )
        raise typer.Exit(1) from None
    checks = asyncio.run(run_checks(settings))
    for check in checks:
        out.print(check.line(), highlight=False, soft_wrap=True)
    failed = [c for c in checks if not c.ok]
    out.print(f"{len(checks) - len(failed)} of {len(checks)} checks passed.")
    if failed:
        raise typer.Exit(1)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (also done at start)."""

    async def main() -> None:
        from storage.db import open_database
        from storage.migrate import current

        settings = _settings()
        engine = await open_database(settings.database_url)
        try:
            out.print(f"database at revision {await current(engine)}")
        finally:
            await engine.dispose()

    _run(main)


def main() -> None:
    """Entry point of the `paperbot` script."""
    try:
        cli()
    except Failure as exc:
        err.print(Text.assemble(("error:", "red"), f" {exc}"))
        sys.exit(2)
