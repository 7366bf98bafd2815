"""Digests and command replies as Slack Block Kit messages. Pure: no I/O, no Slack client.

Every paper of a digest is a section followed by an actions block of four buttons (two blocks a
paper, so a 50-block message holds 24 papers besides its header and "and N more").

Every piece of text that comes from a paper is escaped (`&`, `<`, `>`), so a title such as
`<!channel> alert` is shown as text and never pings anyone or becomes a link.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bot.delivery.render import first_authors, first_sentence, highlight, paper_links, sentence_hits
from bot.models import Digest, Hit, Match, Paper, Reply

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3_000
MAX_MESSAGE_CHARS = 40_000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_TEXT = 2_000
MAX_ACTION_VALUE = 2_000  # a button's `value`
MAX_BLOCK_ID = 255

RENDERED_PAPERS = 4_096  # papers' texts kept, as rendered with their matched terms

# The buttons under every paper of a digest: action_id -> (label, the command it runs).
# A press runs `<command> <paper id>` (the button's value) through the shared command handler.
PAPER_ACTIONS: dict[str, tuple[str, str]] = {
    "paper_like": ("👍", "like"),
    "paper_dislike": ("👎", "dislike"),
    "paper_save": ("🔖 Save", "save"),
    "paper_abstract": ("Abstract", "abstract"),
}

# Budgets, in escaped characters, that keep one paper's section under MAX_SECTION_TEXT before
# highlighting; if bold marks push it over, the section is rebuilt without them.
_TITLE_BUDGET = 700
_AUTHORS_BUDGET = 400
_SENTENCE_BUDGET = 900
_URL_BUDGET = 300
_SENTENCE_SCAN = 4_000
_FALLBACK_BUDGET = 2_000
_REPLY_BUDGET = 12_000

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_WHITESPACE = re.compile(r"\s")
_BOLD_MD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_CODE_MD = re.compile(r"(`[^`\n]*`)")

MORE_HINT = "Find them with `/papers search &lt;query&gt;` (the last 30 days)."


@dataclass(frozen=True)
class SlackMessage:
    """One Slack message: the plain `text` fallback (notifications, old clients) and its blocks."""

    text: str
    blocks: tuple[dict[str, Any], ...]


# --- text -----------------------------------------------------------------------------------


def escape(text: str) -> str:
    """`text` with Slack's control characters escaped, so it is shown literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Text as the user typed it: Slack sends `&`, `<`, `>` in slash commands as entities."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def clip(text: str, budget: int) -> str:
    """`text` cut so that its escaped form takes at most `budget` characters ('…' marks a cut)."""
    escaped = len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))
    if escaped <= budget:
        return text
    used = 1  # the ellipsis
    for i, ch in enumerate(text[:budget]):  # each character takes at least one
        used += len(_ESCAPES.get(ch, ch))
        if used > budget:
            return text[:i].rstrip() + "…"
    return text


def mrkdwn(markdown: str) -> str:
    """A Reply's markdown subset (`**bold**`, `` `code` ``, newlines) as escaped Slack mrkdwn."""
    out = []
    for piece in _CODE_MD.split(markdown):
        if piece.startswith("`") and piece.endswith("`") and len(piece) >= 2:
            out.append(escape(piece))
        else:
            out.append(_BOLD_MD.sub(lambda m: f"*{m.group(1)}*", escape(piece)))
    return "".join(out)


def _bold(segment: str) -> str:
    # Slack only reads *x* as bold when no space sits just inside the asterisks.
    stripped = segment.strip()
    if not stripped:
        return segment
    lead = segment[: len(segment) - len(segment.lstrip())]
    trail = segment[len(segment.rstrip()) :]
    return f"{lead}*{stripped}*{trail}"


def _link_url(url: str | None) -> str | None:
    """A URL safe inside `<url|label>`, or None for anything but a reasonable http(s) link."""
    if not url or not url.startswith(("https://", "http://")):
        return None
    url = url.replace("|", "%7C").replace(" ", "%20")
    safe = escape(url)
    return safe if len(safe) <= _URL_BUDGET else None


def _plain(text: str, limit: int) -> str:
    """Plain text for a header: one line, at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- one paper --------------------------------------------------------------------------------


def paper_text(match: Match, marks: bool = True) -> str:
    """The mrkdwn of one paper: linked title, first authors, upvotes, links, matched terms and
    the abstract's first sentence, matched terms in bold."""
    return _paper_text(match.paper, match.hits, match.because, marks)


@lru_cache(maxsize=RENDERED_PAPERS)
def _paper_text(paper: Paper, hits: tuple[Hit, ...], because: str | None, marks: bool) -> str:
    # Kept: a sweep renders a paper, with the same matched terms, for every channel whose
    # subscriptions matched it the same way (half of the delivery benchmark's 30,000 papers
    # shown over 3,000 channels, more the more channels follow the same words).
    match = Match(paper, (), hits, because=because)
    bold = _bold if marks else (lambda s: s)
    # One line (a line break would end the link), same length so the hits' offsets still hold.
    title = _WHITESPACE.sub(" ", clip(paper.title or paper.id, _TITLE_BUDGET))
    # The first sentence is near the start: a huge abstract need not be scanned whole.
    sentence = clip(first_sentence(paper.abstract[:_SENTENCE_SCAN]), _SENTENCE_BUDGET)
    in_sentence = sentence_hits(match, sentence) if sentence else ()
    url = _link_url(paper.url)
    linked = highlight(title, hits, "title", bold, escape)
    lines = [f"<{url}|{linked}>" if url else linked]
    authors = first_authors(paper.authors)
    if authors:
        lines.append(escape(clip(authors, _AUTHORS_BUDGET)))
    # Terms already bold in the title or sentence need no repeating; others (matched in the
    # rest of the abstract, the authors or categories) are named.
    seen = {h.term for h in hits if h.field == "title" and h.start < len(title)}
    seen.update(h.term for h in in_sentence)
    meta = _meta(paper, [t for t in match.terms if t not in seen] if marks else [])
    if meta:
        lines.append(meta)
    if because:  # the channel's learned ranking: the liked paper this is most like
        lines.append(f"_like “{escape(clip(because, 60))}”_")
    if sentence:
        lines.append(highlight(sentence, in_sentence, "abstract", bold, escape))
    return "\n".join(lines)


def _meta(paper: Paper, terms: Iterable[str]) -> str:
    parts = []
    if paper.upvotes is not None:
        parts.append(f":arrow_up: {paper.upvotes} upvote{'' if paper.upvotes == 1 else 's'}")
    for label, link in paper_links(paper):
        safe = _link_url(link)
        if safe:
            parts.append(f"<{safe}|{label}>")
    shown = [escape(clip(t, 60)) for t in terms][:8]
    if shown:
        parts.append("matched " + ", ".join(f"*{t}*" for t in shown))
    return " · ".join(parts)


def paper_section(match: Match) -> dict[str, Any]:
    """One paper as a section block, always within MAX_SECTION_TEXT."""
    text = paper_text(match)
    if len(text) > MAX_SECTION_TEXT:
        text = paper_text(match, marks=False)
    return _section(text)


def paper_actions(paper: Paper) -> dict[str, Any] | None:
    """The actions block under a paper: 👍, 👎, 🔖 Save, Abstract, each carrying the paper's id.

    None for an id too long for a button's value (the commands still take it).
    """
    if not paper.id or len(paper.id) > MAX_ACTION_VALUE:
        return None
    digest = hashlib.sha256(paper.id.encode()).hexdigest()[:16]
    return {
        "type": "actions",
        "block_id": f"paper:{digest}",  # unique within a message, at most MAX_BLOCK_ID
        "elements": [
            {
                "type": "button",
                "action_id": action_id,
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "value": paper.id,
            }
            for action_id, (label, _) in PAPER_ACTIONS.items()
        ],
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


# --- digests ------------------------------------------------------------------------------------


def render_digest(digest: Digest) -> SlackMessage:
    """One page of a digest: header on page 1, a section and its buttons per paper, "and N more"
    on the last."""
    blocks: list[dict[str, Any]] = []
    last = digest.page == digest.pages
    if digest.page <= 1:
        blocks.append(
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _plain(digest.title, MAX_HEADER_TEXT)},
            }
        )
    else:
        of = f" of {digest.pages}" if digest.pages else ""
        blocks.append(
            _context(f"{escape(_plain(digest.title, 200))}, continued ({digest.page}{of})")
        )
    for match in digest.items:
        blocks.append(paper_section(match))
        actions = paper_actions(match.paper)
        if actions is not None:
            blocks.append(actions)
    if last and digest.more:
        blocks.append(_context(f"…and {more_papers(digest.more)}{_covers(digest)}. {MORE_HINT}"))
    return SlackMessage(text=digest_fallback(digest), blocks=tuple(blocks))


def _covers(digest: Digest) -> str:
    return f" {escape(digest.period)}" if digest.period else ""


def more_papers(n: int) -> str:
    """`1 more paper` / `12 more papers`."""
    return f"{n} more paper{'' if n == 1 else 's'}"


def digest_fallback(digest: Digest) -> str:
    """The plain-text fallback of a digest page: what notifications and screen readers show."""
    count = len(digest.items)
    if not count and not digest.more:  # a notice: its title is all it says
        return escape(clip(_plain(digest.title, 500), _FALLBACK_BUDGET))
    page = f" ({digest.page}/{digest.pages})" if digest.pages > 1 else ""
    head = f"{_plain(digest.title, 200)}{page}: {count} paper{'' if count == 1 else 's'}"
    titles = "; ".join(_plain(m.paper.title, 200) for m in digest.items)
    more = (
        f"; and {more_papers(digest.more)}{_covers(digest)}"
        if digest.more and digest.page == digest.pages
        else ""
    )
    return escape(clip(f"{head}: {titles}{more}", _FALLBACK_BUDGET))


def plain_digest(digest: Digest) -> SlackMessage:
    """A digest page as text alone, no blocks: for a page Slack refused as rendered. The header
    line, then a line per paper with its linked title."""
    counter = f" ({digest.page}/{digest.pages})" if digest.pages > 1 else ""
    lines = [f"*{escape(_plain(digest.title, 200))}*{counter}"]
    for match in digest.items:
        title = escape(_plain(match.paper.title or match.paper.id, 250))
        url = _link_url(match.paper.url)
        lines.append(f"• <{url}|{title}>" if url else f"• {title}")
    if digest.more and digest.page == digest.pages:
        lines.append(f"…and {more_papers(digest.more)}. {MORE_HINT}")
    return SlackMessage(text="\n".join(lines), blocks=())


def thread_reply(match: Match) -> SlackMessage:
    """A paper's full abstract, for the digest's thread (`threads=on`)."""
    paper = match.paper
    title = escape(clip(_plain(paper.title or paper.id, 10_000), _TITLE_BUDGET))
    abstract = " ".join(paper.abstract.split()) or "(no abstract)"
    budget = MAX_SECTION_TEXT - len(title) - 10
    clipped = clip(abstract, budget)
    body = highlight(clipped, sentence_hits(match, clipped), "abstract", _bold, escape)
    if len(body) > budget:
        body = escape(clipped)
    fallback = escape(clip(f"{_plain(paper.title, 500)}: {abstract}", _FALLBACK_BUDGET))
    return SlackMessage(text=fallback, blocks=(_section(f"*{title}*\n{body}"),))


# --- replies -------------------------------------------------------------------------------------


def render_reply(reply: Reply) -> SlackMessage:
    """A command's Reply: its text as mrkdwn sections, then its papers, within Slack's limits."""
    text = clip(reply.text, _REPLY_BUDGET)
    body = (":warning: " if reply.error else "") + mrkdwn(text)
    blocks = [_section(chunk) for chunk in _chunks(body, MAX_SECTION_TEXT)]
    room = min(len(reply.matches), MAX_BLOCKS - len(blocks) - 1)
    while room and not _fits_all(blocks, reply.matches[:room]):
        room -= 1
    blocks.extend(paper_section(m) for m in reply.matches[:room])
    hidden = len(reply.matches) - room
    if hidden:
        blocks.append(_context(f"…and {more_papers(hidden)}."))
    fallback = escape(clip(text.replace("**", ""), _FALLBACK_BUDGET))
    return SlackMessage(text=fallback, blocks=tuple(blocks))


def _fits_all(blocks: list[dict[str, Any]], matches: tuple[Match, ...]) -> bool:
    candidate = [*blocks, *(paper_section(m) for m in matches), _context("…and 999 more papers.")]
    return fits(SlackMessage(text="", blocks=tuple(candidate)))


def _chunks(text: str, limit: int) -> Iterator[str]:
    """`text` in pieces of at most `limit` characters, cut at line breaks where possible."""
    text = text.strip() or " "
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        yield text[:cut]
        text = text[cut:].lstrip("\n")
    yield text


# --- limits --------------------------------------------------------------------------------------


def _texts(node: Any) -> Iterator[tuple[str, str]]:
    """Every (block type, text) in a block tree, in no particular order (walked with a stack:
    a digest page is ~260 nodes, and a generator per node cost more than the check)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if type(item) is list:
            stack.extend(item)
            continue
        if type(item) is not dict:
            continue
        for key, value in item.items():
            kind = type(value)
            if key == "text":
                if kind is str:
                    yield item.get("type", ""), value
                    continue
                if kind is dict and type(value.get("text")) is str:
                    yield item.get("type", ""), value["text"]
                    continue
            if kind is dict or kind is list:
                stack.append(value)


def fits(message: SlackMessage) -> bool:
    """Whether `message` keeps within Slack's limits: blocks, section, header and total text."""
    if len(message.blocks) > MAX_BLOCKS:
        return False
    total = len(message.text)
    for kind, text in _texts(list(message.blocks)):
        total += len(text)
        if kind == "section" and len(text) > MAX_SECTION_TEXT:
            return False
        if kind == "header" and len(text) > MAX_HEADER_TEXT:
            return False
    return total <= MAX_MESSAGE_CHARS
