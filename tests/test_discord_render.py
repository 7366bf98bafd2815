"""Digest and reply rendering for Discord: what a reader sees, within Discord's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from adapters.discord.render import (
    MAX_CONTENT,
    MAX_EMBED_TOTAL,
    MAX_EMBEDS,
    digest_message,
    fits,
    paper_embed,
    plain_message,
    reply_messages,
    split_text,
)
from bot.delivery.digest import paginate
from bot.models import ChannelRef, Digest, Hit, Match, Paper, Reply
from tests.discord_standin import message_problems

CHANNEL = ChannelRef("discord", "290926798626357999", "645027906669510667")


def match_for(paper: Paper, *terms: str) -> Match:
    """The Match a matcher would make: every whole-word occurrence of each term, by field."""
    hits = []
    for term in terms:
        for name in ("title", "abstract"):
            text = getattr(paper, name)
            for m in re.finditer(rf"\b{re.escape(term)}s?\b", text, re.IGNORECASE):
                hits.append(Hit(name, term, m.start(), m.end()))
    return Match(paper, (1,), tuple(hits))


def paper(n: int = 1, **overrides: object) -> Paper:
    fields: dict[str, object] = {
        "id": f"arxiv:2406.{12345 + n}",
        "title": f"Video Diffusion Models for Long Horizons {n}",
        "abstract": (
            "We present a diffusion model that generates long videos. "
            "It scales to hours of footage with a constant memory budget."
        ),
        "authors": ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"),
        "url": f"https://arxiv.org/abs/2406.{12345 + n}",
        "pdf_url": f"https://arxiv.org/pdf/2406.{12345 + n}",
        "code_url": "https://github.com/example/video-diffusion",
        "upvotes": 42,
        "published": datetime(2026, 6, 17, 9, 0, tzinfo=UTC),
    }
    fields.update(overrides)
    return Paper(**fields)  # type: ignore[arg-type]


def as_payload(page: Digest) -> dict[str, object]:
    """The JSON body discord.py would send for the page."""
    message = digest_message(page)
    return {"content": message.content, "embeds": [e.to_dict() for e in message.embeds]}


def test_a_paper_embed_shows_title_link_authors_terms_upvotes_links_and_first_sentence() -> None:
    embed = paper_embed(match_for(paper(), "diffusion"))

    assert embed.title == "Video **Diffusion** Models for Long Horizons 1"
    assert embed.url == "https://arxiv.org/abs/2406.12346"
    assert embed.description == (
        "Ada Lovelace, Alan Turing, Grace Hopper et al.\n"
        "We present a **diffusion** model that generates long videos.\n"
        "▲ 42 upvotes · [PDF](https://arxiv.org/pdf/2406.12346) · "
        "[Code](https://github.com/example/video-diffusion)"
    )
    assert embed.footer.text == "matched: diffusion"
    assert embed.timestamp == datetime(2026, 6, 17, 9, 0, tzinfo=UTC)


def test_paper_text_never_pings_nor_formats() -> None:
    hostile = paper(
        title="@everyone look: **Diffusion** for <@123456789012345678> and <@&987654321098765432>",
        abstract="Ping @here now. [click](https://evil.example) ||spoiler|| `code` _it_",
        authors=("@everyone", "Bob *Bold*"),
    )
    embed = paper_embed(match_for(hostile, "diffusion"))
    shown = f"{embed.title}\n{embed.description}"

    assert "@everyone" not in shown and "@here" not in shown
    assert "<@123456789012345678>" not in shown and "<@&987654321098765432>" not in shown
    assert "@\u200beveryone" in embed.title
    # The paper's own asterisks are escaped; only the matched term is bold.
    assert embed.title is not None
    assert "\\*\\***Diffusion**\\*\\*" in embed.title
    assert "\\[click](https://evil.example)" in shown
    assert "\\|\\|spoiler\\|\\|" in shown and "\\`code\\`" in shown and "\\_it\\_" in shown


def test_a_huge_or_markup_heavy_title_is_cut_to_discords_256_after_escaping() -> None:
    long_paper = paper(title="* " * 400 + "diffusion", abstract="x" * 10_000)
    embed = paper_embed(match_for(long_paper, "diffusion"))

    assert embed.title is not None and len(embed.title) <= 256
    assert embed.title.endswith("…")
    assert embed.description is not None and len(embed.description) <= 4096
    assert message_problems({"embeds": [embed.to_dict()]}) == []


def test_links_discord_would_reject_are_left_out() -> None:
    odd = paper(url="javascript:alert(1)", pdf_url="https://x.org/a b.pdf", code_url=None)
    embed = paper_embed(match_for(odd, "diffusion"))

    assert embed.url is None
    assert "PDF" not in (embed.description or "") and "Code" not in (embed.description or "")


def test_page_one_has_the_header_and_the_last_page_says_how_many_more() -> None:
    items = tuple(
        match_for(paper(i, abstract="diffusion " * 80 + "."), "diffusion") for i in range(25)
    )
    digest = Digest(channel=CHANNEL, items=items, more=7, title="New papers")

    pages = paginate(digest, fits)

    assert len(pages) >= 3
    contents = [digest_message(p).content or "" for p in pages]
    assert contents[0].startswith(f"📚 **New papers** (1/{len(pages)})")
    assert all("New papers" not in c for c in contents[1:])
    assert contents[-1].endswith("and 7 more — find them with `/papers search`")
    assert all("more —" not in c for c in contents[:-1])


def test_every_page_of_a_big_digest_is_accepted_by_discord_and_keeps_every_paper_in_order() -> None:
    items = tuple(
        match_for(
            paper(i, title=f"Diffusion {'very long title words ' * 12}{i}", abstract="a " * 200),
            "diffusion",
        )
        for i in range(40)
    )
    digest = Digest(channel=CHANNEL, items=items, more=0)

    pages = paginate(digest, fits)

    assert [m for p in pages for m in p.items] == list(items)
    for page in pages:
        message = digest_message(page)
        assert len(message.embeds) <= MAX_EMBEDS
        assert message.embed_chars <= MAX_EMBED_TOTAL
        assert message_problems(as_payload(page)) == []
    # The limit binds on characters here, not on the embed count.
    assert any(len(p.items) < MAX_EMBEDS for p in pages[:-1])


def test_the_plain_fallback_of_a_full_page_keeps_every_link_within_2000_characters() -> None:
    items = tuple(
        match_for(paper(i, title=f"@everyone **Diffusion** {'long title words ' * 20}{i}"))
        for i in range(MAX_EMBEDS)
    )
    page = Digest(channel=CHANNEL, items=items, more=25, page=2, pages=2)

    message = plain_message(page)

    assert message.embeds == () and len(message.content or "") <= MAX_CONTENT
    lines = (message.content or "").splitlines()
    assert lines[0].endswith("(2/2)") and lines[-1].startswith("and 25 more")
    assert [line.rsplit("<", 1)[1] for line in lines[1:-1]] == [
        f"{m.paper.url}>" for m in items
    ]  # each paper keeps its link, in order
    assert "@everyone" not in message.content and "**Diffusion**" not in message.content


def test_a_small_digest_is_one_message() -> None:
    digest = Digest(channel=CHANNEL, items=(match_for(paper(), "video"),), more=0)

    pages = paginate(digest, fits)

    assert len(pages) == 1
    assert digest_message(pages[0]).content == "📚 **New papers**"


def test_a_digest_title_cannot_ping() -> None:
    digest = Digest(channel=CHANNEL, items=(match_for(paper(), "video"),), title="@everyone")

    assert digest_message(digest).content == "📚 **@\u200beveryone**"


def test_reply_text_keeps_discord_markdown_but_not_mentions() -> None:
    messages = reply_messages(Reply("Subscribed to `@everyone diffusion` (#3): **4** papers"))

    assert [m.content for m in messages] == [
        "Subscribed to `@\u200beveryone diffusion` (#3): **4** papers"
    ]


def test_a_reply_with_many_matches_is_split_into_messages_discord_accepts() -> None:
    matches = tuple(match_for(paper(i), "diffusion") for i in range(23))

    messages = reply_messages(Reply("Top matches:", matches=matches))

    assert [len(m.embeds) for m in messages] == [10, 10, 3]
    assert messages[0].content == "Top matches:"
    assert all(m.content is None for m in messages[1:])
    for m in messages:
        body = {"content": m.content, "embeds": [e.to_dict() for e in m.embeds]}
        assert message_problems(body) == []


def test_long_reply_text_is_split_at_line_breaks_under_2000_characters() -> None:
    lines = [f"#{i} `diffusion video` — daily" for i in range(200)]

    chunks = split_text("\n".join(lines))

    assert len(chunks) > 1
    assert all(len(c) <= MAX_CONTENT for c in chunks)
    assert "\n".join(chunks).split("\n") == lines


def test_an_empty_reply_still_says_something() -> None:
    assert [m.content for m in reply_messages(Reply(""))] == ["Done."]
