"""Votes, saves, exports and the learned ranking, through the real handler, pipeline and database."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from typer.testing import CliRunner

from adapters.sources.sample import load_sample
from bot.commands.base import needs_manage
from bot.commands.feedback import button_ref, paper_key
from bot.commands.handler import CommandHandler
from bot.models import ChannelRef, Command, Schedule
from entry.cli import cli
from tests.conftest import paper

CH = ChannelRef.parse("console:local:general")
OTHER = ChannelRef.parse("console:local:random")

PAPERS = [
    paper(
        "arxiv:2410.16251",
        "KIND: Knowledge Integration and Diversion in Diffusion Models",
        "Pre-trained models have become the preferred backbone.",
        authors=("Yucheng Xie", "Fu Feng", "Jing Wang"),
        categories=("cs.CV", "cs.LG"),
    ),
    paper(
        "arxiv:2006.11239",
        "Denoising Diffusion Probabilistic Models",
        "We present high quality image synthesis results using diffusion probabilistic models.",
        authors=("Jonathan Ho", "Ajay Jain", "Pieter Abbeel"),
        categories=("cs.LG",),
    ),
    paper(
        "arxiv:2006.99999",
        "Denoising Diffusion Implicit Samplers",
        "Faster sampling.",
        authors=("Jonathan Ho",),
        categories=("cs.LG",),
    ),
]


async def poll(pipeline, source, papers=PAPERS):  # type: ignore[no-untyped-def]
    source.papers = list(papers)
    return await pipeline.poll("list", force=True)


def test_paper_key_reads_ids_and_urls():
    want = "arxiv:2410.16251"
    for text in (
        "arxiv:2410.16251",
        "2410.16251",
        "2410.16251v2",
        "https://arxiv.org/abs/2410.16251v1",
        "https://arxiv.org/pdf/2410.16251.pdf",
        "<https://huggingface.co/papers/2410.16251>",
    ):
        assert paper_key(text) == want, text
    assert paper_key("sample:65a0760ad142") == "sample:65a0760ad142"
    assert paper_key("not a paper") is None
    assert needs_manage("like 2410.16251") and needs_manage("votes reset")
    assert not needs_manage("votes") and not needs_manage("save 2410.16251")


async def test_like_twice_withdraws_dislike_changes_list_counts(pipeline, source, chat, stores):
    await poll(pipeline, source)
    reply = await chat.command(CH, "like 2410.16251", message="1700000000.0001")
    assert not reply.error and reply.text.startswith("👍 Liked “KIND: Knowledge")
    assert "1 liked, 0 disliked" in reply.text
    [vote] = await stores.votes.for_channel(CH)
    assert (vote.user, vote.paper_id, vote.value, vote.message) == (
        "U1",
        "arxiv:2410.16251",
        1,
        "1700000000.0001",
    )
    reply = await chat.command(CH, "dislike https://arxiv.org/abs/2410.16251v3")
    assert "👎 Disliked" in reply.text and "(vote changed)" in reply.text
    assert "0 liked, 1 disliked" in reply.text
    reply = await chat.command(CH, "dislike arxiv:2410.16251")
    assert reply.text.startswith("Vote withdrawn")
    assert await stores.votes.for_channel(CH) == []

    await chat.command(CH, "like 2006.11239")
    reply = await chat.command(CH, "list")
    assert "Votes: **1** liked, **0** disliked (by 1 person) · 0 saved" in reply.text
    assert "ranked by keywords until 3 papers are liked" in reply.text
    reply = await chat.command(CH, "unvote 2006.11239")
    assert not reply.error and "Vote withdrawn" in reply.text
    reply = await chat.command(CH, "unvote 2006.11239")
    assert reply.error and "no vote" in reply.text


async def test_a_button_names_a_long_id_by_its_short_reference_on_its_message(
    pipeline, source, chat, stores
):
    # A feed post's id can outgrow Discord's 100-character custom_id: its buttons send `~<hash>`,
    # found among the papers of the digest message pressed on.
    long_id = "url:https://blog.example.org/2026/12/" + "a-very-long-post-slug-" * 4
    await poll(pipeline, source, [paper(long_id, "Diffusion for long ids"), *PAPERS[:1]])
    await chat.command(CH, "subscribe diffusion")
    report = await pipeline.run_digest(CH)
    assert report.posted == 1 and long_id in chat.posted_ids(CH)
    message = chat.posts[-1].message_id
    ref = button_ref(long_id)
    assert len(f"paperbot:dislike:{ref}") <= 100
    reply = await chat.command(CH, f"like {ref}", message=message)
    assert not reply.error and "👍 Liked “Diffusion for long ids”" in reply.text
    [vote] = await stores.votes.for_channel(CH)
    assert (vote.paper_id, vote.message) == (long_id, message)
    reply = await chat.command(CH, f"save {ref}", message=message)
    assert not reply.error and [s.paper.id for s in await stores.saves.for_channel(CH)] == [long_id]

    # On another message (or typed, with no message), the reference names nothing.
    for kw in ({"message": "m999"}, {}):
        reply = await chat.command(CH, f"dislike {ref}", **kw)
        assert reply.error and "not among the papers paperbot posted" in reply.text
    assert [v.value for v in await stores.votes.for_channel(CH)] == [1]


async def test_unknown_or_pruned_paper_is_one_clear_error_and_changes_nothing(
    pipeline, source, chat, stores
):
    await poll(pipeline, source)
    for text in ("like 2501.00001", "save https://arxiv.org/abs/2501.00001", "abstract 2501.00001"):
        reply = await chat.command(CH, text)
        assert reply.error and "No stored paper `arxiv:2501.00001`" in reply.text
        assert "Nothing was changed" in reply.text
    reply = await chat.command(CH, "like the best one")
    assert reply.error and "is not a paper id" in reply.text
    assert await stores.votes.for_channel(CH) == []
    assert await stores.saves.for_channel(CH) == []


async def test_votes_need_admin_only_where_the_operator_says(pipeline, source, stores, clock):
    await poll(pipeline, source)
    strict = CommandHandler(pipeline, Schedule(), admins_only=False, votes_admins_only=True)
    member = Command(CH, "U2", "like 2410.16251", can_manage=False)
    reply = await strict(member)
    assert reply.error and "only admins can vote" in reply.text
    assert await stores.votes.for_channel(CH) == []
    # Subscribing stays open (PAPERBOT_ADMINS_ONLY is off), and so does saving.
    assert not (await strict(Command(CH, "U2", "subscribe diffusion", can_manage=False))).error
    assert not (await strict(Command(CH, "U2", "save 2410.16251", can_manage=False))).error
    assert not (await strict(Command(CH, "U3", "like 2410.16251", can_manage=True))).error
    # `votes reset` follows PAPERBOT_ADMINS_ONLY too; open where both are off.
    admins = CommandHandler(pipeline, Schedule(), admins_only=True)
    reply = await admins(Command(CH, "U2", "votes reset", can_manage=False))
    assert reply.error and len(await stores.votes.for_channel(CH)) == 1
    open_ = CommandHandler(pipeline, Schedule(), admins_only=False)
    reply = await open_(Command(CH, "U2", "votes reset", can_manage=False))
    assert "Forgot this channel's 1 vote(s)" in reply.text
    assert await stores.votes.for_channel(CH) == []


async def test_saved_export_bibtex_and_csv(pipeline, source, chat, stores):
    await poll(pipeline, source)
    assert "Saved" in (await chat.command(CH, "save 2410.16251")).text
    assert "already saved" in (await chat.command(CH, "save 2410.16251")).text
    await chat.command(CH, "save 2006.11239")
    await chat.command(CH, "save 2006.99999")
    reply = await chat.command(CH, "saved")
    assert "**3** papers saved" in reply.text
    assert reply.matches[0].paper.id == "arxiv:2410.16251"
    assert (await chat.command(OTHER, "saved")).text.startswith("This channel has saved nothing")

    reply = await chat.command(CH, "export bibtex")
    assert reply.attachment is not None
    assert reply.attachment.filename == "paperbot-general-saved.bib"
    bib = reply.attachment.content.decode()
    assert "@misc{xie2024kind,\n  title = {{KIND: Knowledge Integration" in bib
    assert "  author = {Yucheng Xie and Fu Feng and Jing Wang}," in bib
    assert "  eprint = {2410.16251},\n  archivePrefix = {arXiv},\n  primaryClass = {cs.CV}," in bib
    # Same first author, year and first word: unique keys, stable from one export to the next.
    assert "@misc{ho2020denoising," in bib and "@misc{ho2020denoisinga," in bib
    assert (await chat.command(CH, "export bibtex")).attachment.content.decode() == bib

    reply = await chat.command(CH, "export csv")
    rows = list(csv.DictReader(io.StringIO(reply.attachment.content.decode())))
    assert reply.attachment.mime == "text/csv" and len(rows) == 3
    assert rows[0]["id"] == "arxiv:2410.16251" and rows[0]["authors"].startswith("Yucheng Xie; ")
    assert (await chat.command(CH, "export pdf")).error

    assert not (await chat.command(CH, "unsave 2006.99999")).error
    assert (await chat.command(CH, "unsave 2006.99999")).error
    assert len(await stores.saves.for_channel(CH)) == 2


async def test_abstract_and_more_like(pipeline, source, chat):
    corpus = load_sample(datetime(2026, 11, 30, tzinfo=UTC))
    await poll(pipeline, source, corpus)
    snoopi = next(p for p in corpus if p.title.startswith("SNOOPI"))
    reply = await chat.command(CH, f"abstract {snoopi.id}")
    assert reply.text.startswith("**SNOOPI") and snoopi.abstract in reply.text
    reply = await chat.command(CH, f"more-like {snoopi.id}")
    assert reply.visibility.value == "caller" and len(reply.matches) == 10
    assert snoopi.id not in [m.paper.id for m in reply.matches]
    top = " ".join(m.paper.title for m in reply.matches[:5]).lower()
    assert "distillation" in top or "one-step" in top


async def test_votes_reorder_the_digest_and_say_why(pipeline, source, chat):
    corpus = load_sample(datetime(2026, 11, 30, tzinfo=UTC))
    await poll(pipeline, source, corpus)
    await chat.command(CH, "subscribe diffusion")
    before = await pipeline.preview(CH)
    assert all(m.because is None for m in before.items)
    liked = [
        p
        for p in corpus
        if p.title.startswith(("SNOOPI", "SwiftBrush", "BOOT:", "One-Step Diffusion Distillation"))
    ]
    for p in liked:
        assert "👍" in (await chat.command(CH, f"like {p.id}")).text
    after = await pipeline.preview(CH)
    assert [m.paper.id for m in after.items] != [m.paper.id for m in before.items]
    # Subscriptions still decide what: every paper ranked is one `diffusion` matched.
    assert all(m.terms for m in after.items)
    titles = " ".join(m.paper.title for m in after.items).lower()
    assert titles.count("distill") + titles.count("one-step") >= 4
    assert all(m.because for m in after.items[:5])
    assert after.items[0].score >= after.items[-1].score
    # The same votes rebuild the same ranking (a restart, a second replica).
    again = CommandHandler(pipeline, Schedule())
    del again
    pipeline.ranking.ranker._tastes.clear()
    assert [m.paper.id for m in (await pipeline.preview(CH)).items] == [
        m.paper.id for m in after.items
    ]
    reply = await chat.command(CH, "list")
    assert "ranked by what it liked" in reply.text


async def test_the_scheduled_digest_says_why_as_preview_does(pipeline, source, chat, clock):
    # A sweep reads every channel's votes at once, without their papers' text: the reasons it
    # gives must still name the liked papers.
    from datetime import timedelta

    from adapters.scheduling.timer import ApsTimer
    from bot.delivery.scheduler import Scheduler

    corpus = load_sample(datetime(2026, 11, 30, tzinfo=UTC))
    await poll(pipeline, source, corpus)
    await chat.command(CH, "subscribe diffusion")
    liked = [p for p in corpus if p.title.startswith(("SNOOPI", "SwiftBrush", "BOOT:"))]
    for p in liked:
        await chat.command(CH, f"like {p.id}")
    clock.advance(hours=1, seconds=30)  # today's 09:00 digest is due
    scheduler = Scheduler(pipeline, ApsTimer(), poll_interval=timedelta(hours=1))
    assert [r.posted for r in await scheduler.sweep()] == [1]
    [post] = chat.posts
    titles = {p.title for p in liked}
    reasons = [m.because for m in post.page.items]
    assert reasons[:3] and all(r in titles for r in reasons[:3]), reasons


def test_cli_export_writes_the_file_to_stdout_and_search_json_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("PAPERBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PAPERBOT_SOURCES", "sample")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["poll"]).exit_code == 0
    corpus = load_sample(datetime(2026, 11, 30, tzinfo=UTC))
    ids = [p.id for p in corpus if p.title.startswith(("SNOOPI", "SwiftBrush", "BOOT:"))]
    for pid in ids:
        assert runner.invoke(cli, ["command", f"like {pid}"]).exit_code == 0
    runner.invoke(cli, ["command", f"save {ids[0]}"])
    r = runner.invoke(cli, ["command", "export csv"])
    assert r.exit_code == 0 and r.stdout.startswith("id,title,authors,year,categories")
    assert "BOOT: Data-free Distillation" in r.stdout
    r = runner.invoke(
        cli, ["search", "diffusion", "--json", "--limit", "5", "--channel", "console:local:general"]
    )
    rows = json.loads(r.stdout)
    assert all(isinstance(row["score"], float) for row in rows)
    assert all(row["because"] for row in rows[:3])
    plain = json.loads(runner.invoke(cli, ["search", "diffusion", "--json"]).stdout)
    assert plain[0]["score"] is None and plain[0]["because"] is None
