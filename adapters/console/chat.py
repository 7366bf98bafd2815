"""The console chat: digests and replies rendered in a terminal with rich."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from bot.delivery.render import (
    first_authors,
    first_sentence,
    highlight,
    paper_links,
    sentence_hits,
    truncate,
)
from bot.models import ChannelRef, Digest, Match, Reply
from bot.ports import CommandHandler

HIGHLIGHT = "bold black on yellow"


def _mark(text: str) -> str:
    return f"[{HIGHLIGHT}]{text}[/]"


def render_matches(matches: Sequence[Match], start: int = 1) -> list[Text]:
    """Numbered papers: title, authors, upvotes, matched terms highlighted, first sentence, links."""
    out = []
    for n, match in enumerate(matches, start):
        paper = match.paper
        title = highlight(paper.title, match.hits, "title", _mark, escape)
        lines = [f"[bold]{n}. {title}[/bold]"]
        meta = []
        if paper.authors:
            meta.append(escape(first_authors(paper.authors)))
        if paper.upvotes:
            meta.append(f"▲ {paper.upvotes}")
        if match.terms:
            meta.append("matched: " + ", ".join(escape(t) for t in match.terms))
        if match.because:
            meta.append(f"like “{escape(truncate(match.because, 60))}”")
        if meta:
            lines.append("   [dim]" + " · ".join(meta) + "[/dim]")
        sentence = first_sentence(paper.abstract)
        if sentence:
            hits = sentence_hits(match, sentence)
            lines.append("   " + highlight(sentence, hits, "abstract", _mark, escape))
        links = [paper.url] if paper.url else []
        links += [f"{label}: {url}" for label, url in paper_links(paper)]
        if links:
            lines.append("   [blue]" + escape("  ".join(links)) + "[/blue]")
        lines.append(f"   [dim]{escape(paper.id)}[/dim]")
        out.append(Text.from_markup("\n".join(lines)))
    return out


def _markdown_to_rich(text: str) -> str:
    text = escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"[bold]\1[/bold]", text)
    return re.sub(r"`([^`]+)`", r"[cyan]\1[/cyan]", text)


class ConsoleChat:
    """A chat whose channels are the terminal: `console:local:<name>`."""

    platform = "console"

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(emoji=False)  # `:a:` in a title stays text
        self.posted: list[tuple[ChannelRef, Digest, str]] = []

    async def start(self, on_command: CommandHandler) -> None:
        """The console takes commands from the CLI (`paperbot command`), not from a socket."""

    def paginate(self, digest: Digest) -> list[Digest]:
        """A terminal has no message size limit: one page."""
        return [digest] if not digest.empty else []

    async def post(
        self,
        channel: ChannelRef,
        page: Digest,
        delivery_id: str,
        *,
        threads: bool = False,
        plain: bool = False,
    ) -> str:
        """Print the digest page (a terminal has no threads, and its rendering is plain)."""
        self.console.print(
            f"\n[bold underline]{escape(page.title)}[/] [dim]→ #{escape(channel.channel)}[/]"
        )
        start = 1
        for text in render_matches(page.items, start):
            self.console.print(text)
            self.console.print()
        if page.more:
            self.console.print(
                f'[dim]…and {page.more} more{_covers(page)}: `paperbot search "<query>"` finds them[/dim]'
            )
        self.posted.append((channel, page, delivery_id))
        return f"console-{delivery_id}"

    async def find_delivery(self, channel: ChannelRef, delivery_id: str) -> str | None:
        """A terminal keeps no history to look in."""
        return None

    async def stop(self) -> None:
        """Nothing to close."""

    def show_reply(self, reply: Reply) -> None:
        """Print a command's reply (an attached file's content after it, as it is)."""
        style = "red" if reply.error else ""
        self.console.print(Text.from_markup(_markdown_to_rich(reply.text), style=style))
        for text in render_matches(reply.matches):
            self.console.print(text)
        if reply.attachment is not None:
            self.console.file.write(reply.attachment.content.decode("utf-8", "replace"))
            self.console.file.flush()


def _covers(page: Digest) -> str:
    return f" {page.period}" if page.period else ""
