"""Block Kit rendering: what a Slack user sees, and that it always keeps within Slack's limits."""

from __future__ import annotations

import re

import pytest

from adapters.slack.chat import SlackChat
from adapters.slack.render import (
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    MAX_MESSAGE_CHARS,
    MAX_SECTION_TEXT,
    SlackMessage,
    fits,
    mrkdwn,
    render_digest,
    render_reply,
    thread_reply,
)
from bot.models import Reply, Visibility
from tests.slack_papers import digest, match, paper


def chat() -> SlackChat:
    return SlackChat(
        bot_token="xoxb-test", signing_secret="secret", api_url="http://127.0.0.1:9/api/"
    )


def sections(message: SlackMessage) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "section"]


def all_text(message: SlackMessage) -> str:
    parts = [message.text]
    for block in message.blocks:
        if "text" in block:
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            text = element["text"]
            parts.append(text["text"] if isinstance(text, dict) else text)
    return "\n".join(parts)


def assert_within_limits(message: SlackMessage) -> None:
    assert len(message.blocks) <= MAX_BLOCKS
    assert all(len(s) <= MAX_SECTION_TEXT for s in sections(message))
    headers = [b["text"]["text"] for b in message.blocks if b["type"] == "header"]
    assert all(len(h) <= MAX_HEADER_TEXT for h in headers)
    assert len(all_text(message)) <= MAX_MESSAGE_CHARS
    assert message.text.strip()


def test_a_paper_reads_as_title_link_authors_votes_links_and_first_sentence() -> None:
    message = render_digest(digest([match(paper(), "diffusion", "video")]))

    header, section, buttons = message.blocks
    assert buttons["type"] == "actions"
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "New papers"}}
    lines = section["text"]["text"].split("\n")
    assert (
        lines[0]
        == "<https://arxiv.org/abs/2406.12346|Fast *Diffusion* Models for *Video* Generation>"
    )
    assert lines[1] == "Ada Lovelace, Alan Turing, Grace Hopper et al."
    assert lines[2] == (
        ":arrow_up: 42 upvotes · <https://arxiv.org/pdf/2406.12346|PDF> · "
        "<https://github.com/example/fast-diffusion|Code>"
    )
    assert lines[3] == (
        "We present a latent *diffusion* model that generates temporally coherent *video* from text."
    )
    assert "10M clips" not in message.text + section["text"]["text"]  # only the first sentence


def test_terms_matched_out_of_sight_are_named() -> None:
    # "clip" only matches the abstract's second sentence, which the digest does not show.
    text = sections(render_digest(digest([match(paper(), "diffusion", "clip")])))[0]
    assert text.split("\n")[2].endswith("|Code> · matched *clip*")
    assert "*Diffusion*" in text


def test_paper_text_cannot_ping_or_link() -> None:
    hostile = paper(
        title="<!channel> alert & <@U024BE7LH> says <https://evil.example|click>",
        abstract="Ping <!here> and <!everyone> now. Then more.",
        authors=("<!subteam^S0123>",),
    )
    message = render_digest(digest([match(hostile, "alert")]))

    text = all_text(message)
    assert "&lt;!channel&gt; *alert* &amp; &lt;@U024BE7LH&gt;" in text
    assert "&lt;!here&gt;" in text and "&lt;!subteam^S0123&gt;" in text
    # The only Slack control sequences left are our own links.
    controls = re.findall(r"<([^>|]*)[|>]", text)
    assert controls == [
        "https://arxiv.org/abs/2406.12346",
        "https://arxiv.org/pdf/2406.12346",
        "https://github.com/example/fast-diffusion",
    ]
    assert "<!" not in message.text and "&lt;!channel&gt; alert" in message.text


def test_a_title_broken_over_lines_stays_one_link() -> None:
    wrapped = paper(title="Fast Diffusion Models\n  for Video Generation")
    first_line = sections(render_digest(digest([match(wrapped, "video")])))[0].split("\n")[0]
    assert (
        first_line
        == "<https://arxiv.org/abs/2406.12346|Fast Diffusion Models   for *Video* Generation>"
    )


def test_links_only_for_http_urls() -> None:
    sneaky = paper(code_url="javascript:alert(1)")
    text = sections(render_digest(digest([match(sneaky)])))[0]
    assert "javascript" not in text and "<https://arxiv.org/pdf/2406.12346|PDF>" in text


def test_sixty_long_papers_split_into_pages_within_slack_limits() -> None:
    long_abstract = " ".join(
        f"Sentence {i} about diffusion transformers and video synthesis at scale."
        for i in range(60)
    )
    matches = [
        match(
            paper(
                i,
                title=f"Scaling Diffusion Transformers, part {i}: " + "very long title " * 12,
                abstract=long_abstract,
            ),
            "diffusion",
        )
        for i in range(60)
    ]

    pages = chat().paginate(digest(matches, more=17))

    assert len(pages) >= 2
    assert [m.paper.id for p in pages for m in p.items] == [m.paper.id for m in matches]
    for page in pages:
        message = render_digest(page)
        assert_within_limits(message)
        assert (message.blocks[0]["type"] == "header") == (page.page == 1)
    assert "17 more papers" in all_text(render_digest(pages[-1]))
    assert all("more paper" not in all_text(render_digest(p)) for p in pages[:-1])


def test_huge_hostile_fields_still_fit_every_limit() -> None:
    giant = paper(
        title="R&D <b> " * 700,
        abstract="& " * 30_000,
        authors=tuple(f"Author <{i}> & Co" for i in range(500)),
    )
    matches = [match(giant, "R") for _ in range(60)]

    pages = chat().paginate(digest(matches, more=3, title="Papers " * 100))

    assert sum(len(p.items) for p in pages) == 60
    for page in pages:
        assert_within_limits(render_digest(page))


def test_header_is_cut_to_slacks_150_characters() -> None:
    message = render_digest(digest([match(paper())], title="Daily digest " * 40))
    header = message.blocks[0]["text"]["text"]
    assert len(header) <= MAX_HEADER_TEXT and header.startswith("Daily digest Daily")
    assert header.endswith("Daily…")


def test_fallback_text_names_the_papers() -> None:
    message = render_digest(
        digest([match(paper(1)), match(paper(2, title="Flow & Matching"))], more=4)
    )
    assert message.text == (
        "New papers: 2 papers: Fast Diffusion Models for Video Generation; "
        "Flow &amp; Matching; and 4 more papers"
    )


def test_last_page_says_how_to_see_the_rest() -> None:
    message = render_digest(digest([match(paper())], more=1))
    assert message.blocks[-1]["type"] == "context"
    assert message.blocks[-1]["elements"][0]["text"] == (
        "…and 1 more paper. Find them with `/papers search &lt;query&gt;` (the last 30 days)."
    )


def test_fits_rejects_what_slack_would() -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    assert fits(SlackMessage("ok", (section,) * MAX_BLOCKS))
    assert not fits(SlackMessage("ok", (section,) * (MAX_BLOCKS + 1)))
    too_long = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * (MAX_SECTION_TEXT + 1)}}
    assert not fits(SlackMessage("ok", (too_long,)))
    big = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2_900}}
    assert not fits(SlackMessage("ok", (big,) * 14))


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**Subscribed** to `diffusion`", "*Subscribed* to `diffusion`"),
        ("a <b> & c", "a &lt;b&gt; &amp; c"),
        ("`**not bold** <x>`", "`**not bold** &lt;x&gt;`"),
        ("line one\n**two**", "line one\n*two*"),
        ("<!channel> **hi**", "&lt;!channel&gt; *hi*"),
    ],
)
def test_reply_markdown_becomes_escaped_mrkdwn(markdown: str, expected: str) -> None:
    assert mrkdwn(markdown) == expected


def test_reply_lists_its_papers_under_the_text() -> None:
    reply = Reply(
        "**2** papers match `diffusion`",
        visibility=Visibility.CALLER,
        matches=(match(paper(1), "diffusion"), match(paper(2), "diffusion")),
    )
    message = render_reply(reply)
    texts = sections(message)
    assert texts[0] == "*2* papers match `diffusion`"
    assert texts[1].startswith("<https://arxiv.org/abs/2406.12346|Fast *Diffusion*")
    assert len(texts) == 3
    assert message.text == "2 papers match `diffusion`"


def test_error_reply_is_flagged_and_long_replies_stay_within_limits() -> None:
    error = render_reply(Reply("Unbalanced quote at column 5", error=True))
    assert sections(error) == [":warning: Unbalanced quote at column 5"]

    many = render_reply(Reply("Results", matches=tuple(match(paper(i)) for i in range(80))))
    assert_within_limits(many)
    shown = len(sections(many)) - 1
    assert many.blocks[-1]["elements"][0]["text"] == f"…and {80 - shown} more papers."


def test_thread_reply_carries_the_full_abstract() -> None:
    reply = thread_reply(match(paper(), "diffusion"))
    text = sections(reply)[0]
    assert text.startswith("*Fast Diffusion Models for Video Generation*\n")
    assert "trains on 10M clips" in text and "*diffusion*" in text
    huge = thread_reply(match(paper(abstract="<x> " * 5_000)))
    assert_within_limits(huge)
