"""Digests and replies as Discord messages: one embed per paper, within Discord's limits. Pure.

A digest message carries at most 5 papers: Discord allows 5 rows of buttons a message, and every
paper gets its own row (#n 👍 👎 🔖 Save Abstract; see buttons.py).

Paper text is escaped (markdown and mentions) before it reaches a message, so a title such as
`**@everyone** _x_` shows literally and never pings; every send also carries
`AllowedMentions.none()` (see discord_chat.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import discord
from discord.utils import escape_markdown, escape_mentions

from bot.delivery.render import (
    first_authors,
    first_sentence,
    highlight,
    paper_links,
    sentence_hits,
    truncate,
)
from bot.models import Attachment, Digest, Match, Reply

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FOOTER = 2048
MAX_CONTENT = 2000
MAX_URL = 2048
MAX_ACTION_ROWS = 5  # rows of buttons a message may carry: one per paper, so 5 papers a message
LINK_URL_LIMIT = 512  # longer PDF/code links are left out so a description never needs cutting
FOOTER_LIMIT = 256

EMBED_COLOUR = 0xB31B1B
SENTENCE_LIMIT = 300
AUTHORS_LIMIT = 200
MORE_HINT = "find them with `/papers search`"

_HTTP_URL = re.compile(r"^https?://[^\s<>]+$")


@dataclass(frozen=True)
class DiscordMessage:
    """One message to send: optional content (≤ 2,000 characters), up to 10 embeds, a row of
    buttons per (number, paper id) in `rows` (≤ 5), and a file to attach."""

    content: str | None
    embeds: tuple[discord.Embed, ...] = ()
    rows: tuple[tuple[int, str], ...] = ()
    attachment: Attachment | None = None

    @property
    def embed_chars(self) -> int:
        """Characters Discord counts against the 6,000 a message (title, description, footer...)."""
        return sum(len(e) for e in self.embeds)


def escape_text(text: str) -> str:
    """Paper text made inert: markdown shown literally, `@everyone` and `<@id>` never mention."""
    return escape_mentions(escape_markdown(text))


def bold(text: str) -> str:
    """Discord bold."""
    return f"**{text}**"


def _fit(raw: str, limit: int, render: Callable[[str], str]) -> str:
    """`render(raw)` cut so the *rendered* text (escapes and marks included) fits `limit`."""
    budget = min(len(raw), limit)
    while True:
        out = render(truncate(raw, budget))
        if len(out) <= limit or budget <= 1:
            return out[:limit]
        budget -= max(1, len(out) - limit)


def safe_url(url: str | None, limit: int = MAX_URL) -> str | None:
    """`url` if Discord will accept it as a link (http(s), no spaces, not too long), else None."""
    if not url or len(url) > limit or not _HTTP_URL.match(url):
        return None
    return url


def _link(label: str, url: str) -> str:
    # Parentheses would end a markdown link early.
    return f"[{label}]({url.replace('(', '%28').replace(')', '%29')})"


def paper_embed(match: Match) -> discord.Embed:
    """One paper: linked title with matched terms in bold, first authors, upvotes, PDF and code
    links, the abstract's first sentence with matched terms in bold, the terms in the footer."""
    paper = match.paper
    title = _fit(
        " ".join(paper.title.split()) or paper.id,
        MAX_TITLE,
        lambda t: highlight(t, match.hits, "title", bold, escape_text),
    )
    lines: list[str] = []
    authors = first_authors(paper.authors)
    if authors:
        lines.append(escape_text(truncate(authors, AUTHORS_LIMIT)))
    sentence = first_sentence(paper.abstract, SENTENCE_LIMIT)
    if sentence:
        hits = sentence_hits(match, sentence)
        lines.append(highlight(sentence, hits, "abstract", bold, escape_text))
    meta: list[str] = []
    if paper.upvotes is not None:
        meta.append(f"▲ {paper.upvotes} upvote{'' if paper.upvotes == 1 else 's'}")
    meta.extend(
        _link(label, url) for label, url in paper_links(paper) if safe_url(url, LINK_URL_LIMIT)
    )
    if meta:
        lines.append(" · ".join(meta))
    description = truncate("\n".join(lines), MAX_DESCRIPTION)

    embed = discord.Embed(
        title=title,
        url=safe_url(paper.url),
        description=description,
        colour=EMBED_COLOUR,
        timestamp=paper.published,
    )
    terms = match.terms
    footer = f"matched: {', '.join(terms)}" if terms else paper.id
    if match.because:  # the channel's learned ranking: the liked paper this is most like
        footer += f" · like “{match.because}”"
    embed.set_footer(text=truncate(footer, FOOTER_LIMIT))
    return embed


def _covers(page: Digest) -> str:
    return f" {page.period}" if page.period else ""


def header_text(page: Digest) -> str | None:
    """Message text of a digest page: the header on page 1, "and N more" on the last page."""
    parts: list[str] = []
    counter = f" ({page.page}/{page.pages})" if page.pages > 1 else ""
    if page.page == 1:
        parts.append(f"📚 {bold(escape_text(page.title))}{counter}")
    elif counter:
        parts.append(f"…continued{counter}")
    if page.page == page.pages and page.more > 0:
        parts.append(f"and {page.more} more{_covers(page)} — {MORE_HINT}")
    return escape_mentions("\n".join(parts)) if parts else None


def digest_message(page: Digest) -> DiscordMessage:
    """One digest page as one message: header text, one embed per paper (its footer numbered
    `#1`...), and under them a row of buttons per paper, numbered the same."""
    embeds = []
    rows = []
    for n, match in enumerate(page.items, start=1):
        embed = paper_embed(match)
        embed.set_footer(text=truncate(f"#{n} · {embed.footer.text}", FOOTER_LIMIT))
        embeds.append(embed)
        rows.append((n, match.paper.id))
    return DiscordMessage(header_text(page), tuple(embeds), tuple(rows))


def plain_message(page: Digest) -> DiscordMessage:
    """A digest page as text alone, no embeds: for a page Discord refused as rendered. The
    header, a line per paper (its title and link), then "and N more"; titles are cut so the
    whole stays within 2,000 characters."""
    counter = f" ({page.page}/{page.pages})" if page.pages > 1 else ""
    head = f"📚 {bold(escape_text(page.title))}{counter}"
    tail = (
        [f"and {page.more} more{_covers(page)} — {MORE_HINT}"]
        if page.page == page.pages and page.more
        else []
    )
    links = []
    for match in page.items:
        url = safe_url(match.paper.url, LINK_URL_LIMIT)
        links.append(f" — <{url}>" if url else "")
    fixed = len(head) + sum(map(len, tail)) + sum(len(link) + 3 for link in links) + 1
    budget = max(16, (MAX_CONTENT - fixed) // max(1, len(page.items)))
    lines = [head]
    for match, link in zip(page.items, links, strict=True):
        lines.append(f"• {_fit(match.paper.title or match.paper.id, budget, escape_text)}{link}")
    return DiscordMessage("\n".join([*lines, *tail])[:MAX_CONTENT])


def message_fits(message: DiscordMessage) -> bool:
    """Whether Discord accepts the message: ≤ 10 embeds, ≤ 5 rows of buttons, ≤ 6,000 embed
    characters, ≤ 2,000 of content, and every embed within its own field limits."""
    return (
        len(message.embeds) <= MAX_EMBEDS
        and len(message.rows) <= MAX_ACTION_ROWS
        and message.embed_chars <= MAX_EMBED_TOTAL
        and len(message.content or "") <= MAX_CONTENT
        and all(
            len(e.title or "") <= MAX_TITLE
            and len(e.description or "") <= MAX_DESCRIPTION
            and len(e.footer.text or "") <= MAX_FOOTER
            for e in message.embeds
        )
    )


def fits(page: Digest) -> bool:
    """The check bot.delivery.digest.paginate splits digests with."""
    return message_fits(digest_message(page))


def thread_name(page: Digest) -> str:
    """The name of a digest's thread (Discord allows 100 characters)."""
    return truncate(page.title, 100)


def abstract_message(match: Match) -> str:
    """One paper's full abstract for the digest's thread: bold title, then the text, escaped."""
    title = bold(_fit(match.paper.title, 300, escape_text))
    body = match.paper.abstract or "(no abstract)"
    return _fit(body, MAX_CONTENT - len(title) - 1, lambda t: f"{title}\n{escape_text(t)}")


def split_text(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """`text` in chunks of at most `limit` characters, cut at line breaks where possible."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        chunks.append(current)
    return chunks


def group_embeds(embeds: Iterable[discord.Embed]) -> list[tuple[discord.Embed, ...]]:
    """Embeds packed greedily, in order, into messages of ≤ 10 embeds and ≤ 6,000 characters."""
    groups: list[list[discord.Embed]] = []
    size = 0
    for embed in embeds:
        if not groups or len(groups[-1]) == MAX_EMBEDS or size + len(embed) > MAX_EMBED_TOTAL:
            groups.append([])
            size = 0
        groups[-1].append(embed)
        size += len(embed)
    return [tuple(g) for g in groups]


def reply_messages(reply: Reply) -> list[DiscordMessage]:
    """A command's Reply as one or more messages: its text (mentions neutralised; `**bold**` and
    `` `code` `` are Discord's own markdown), then its matches as paper embeds."""
    chunks = split_text(escape_mentions(reply.text))
    groups = group_embeds(paper_embed(m) for m in reply.matches)
    if not chunks and not groups:
        return [DiscordMessage("Done.", attachment=reply.attachment)]
    messages = [DiscordMessage(chunk) for chunk in chunks]
    if groups:
        first: Sequence[discord.Embed] = groups[0]
        if messages:
            messages[-1] = DiscordMessage(messages[-1].content, tuple(first))
        else:
            messages.append(DiscordMessage(None, tuple(first)))
        messages.extend(DiscordMessage(None, g) for g in groups[1:])
    if reply.attachment is not None:  # the file goes with the first message, the one answered
        messages[0] = replace(messages[0], attachment=reply.attachment)
    return messages
