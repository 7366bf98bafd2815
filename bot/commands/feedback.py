"""Listening to readers: like, dislike, unvote, save, unsave, saved, export, more-like, votes,
abstract."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from bot.commands.base import SEARCH_DAYS, SEARCH_LIMIT, CommandBase, _error, _shown, n_papers
from bot.commands.exports import bibtex, csv_text
from bot.delivery.render import truncate
from bot.models import Attachment, Command, Match, Paper, Reply
from bot.ranking.votes import MIN_LIKES, tally
from bot.stores import SavedPaper, Vote

_ARXIV_ID = re.compile(r"(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?")
_URL = re.compile(
    r"^https?://(?:www\.|export\.)?(?:arxiv\.org/(?:abs|pdf|html)|huggingface\.co/papers)/"
    r"(?P<id>[^?#]+?)(?:\.pdf)?/?(?:[?#].*)?$"
)
MORE_LIKE = 10
PAPER_HINT = (
    "Give a paper as `search --json` prints its id (`arxiv:2410.16251`), an arXiv id "
    "(`2410.16251`) or an arXiv / Hugging Face URL."
)


def paper_key(text: str) -> str | None:
    """The stored id a user means by `text` (`arxiv:2410.16251` from `2410.16251v2` or a URL)."""
    text = text.strip().strip("<>")
    found = _URL.match(text)
    if found:
        text = found.group("id")
    text = text.removeprefix("arXiv:") if text.startswith("arXiv:") else text
    if text.startswith("arxiv:"):
        text = text.removeprefix("arxiv:")
    elif re.match(r"^[a-z]+:\S+$", text):  # a stored id of another kind (doi:, url:, sample:)
        return text
    exact = _ARXIV_ID.fullmatch(text)
    return f"arxiv:{exact.group(1)}" if exact else None


def button_ref(paper_id: str) -> str:
    """A short stand-in for a paper id too long for a platform's button (Discord allows 100
    characters): `~` and 12 hex digits of its hash, which a press resolves among the papers of
    the digest message the button is on."""
    return "~" + hashlib.blake2b(paper_id.encode(), digest_size=6).hexdigest()


def _title(title: str) -> str:
    return f"“{truncate(title, 90)}”"


class FeedbackCommands(CommandBase):
    """like, dislike, unvote, save, unsave, saved, export, more-like, votes, abstract."""

    async def _paper(
        self, command: Command, rest: str
    ) -> tuple[str | None, Paper | None, Reply | None]:
        """(id, stored paper, error reply) for what the user typed, or a button sent."""
        if not rest:
            return None, None, _error(f"Say which paper. {PAPER_HINT}")
        if rest.startswith("~"):
            key = await self._on_message(command, rest)
            if key is None:
                return (
                    None,
                    None,
                    _error(
                        "That button's paper is not among the papers paperbot posted in that message "
                        "(a message from before an upgrade, or its record pruned). Nothing was "
                        f"changed. {PAPER_HINT}"
                    ),
                )
        else:
            key = paper_key(rest)
        if key is None:
            return None, None, _error(f"`{_shown(rest)}` is not a paper id. {PAPER_HINT}")
        found = (await self.stores.papers.get_many([key])).get(key)
        if found is None:
            return (
                key,
                None,
                _error(
                    f"No stored paper `{key}`: it may be older than what paperbot keeps, or not "
                    "polled yet. Nothing was changed."
                ),
            )
        return key, found, None

    async def _on_message(self, command: Command, ref: str) -> str | None:
        """The paper a button's short reference (button_ref) names on its digest message."""
        if command.message is None:
            return None
        found = await self.stores.deliveries.papers_on_message(command.channel, command.message)
        return next((pid for pid in found if button_ref(pid) == ref), None)

    async def _vote(self, command: Command, rest: str, value: int) -> Reply:
        key, paper, problem = await self._paper(command, rest)
        if problem is not None or paper is None or key is None:
            return problem or _error(PAPER_HINT)
        votes = self.stores.votes
        before = await votes.get(command.channel, command.user, key)
        if before is not None and before.value == value:
            await votes.remove(command.channel, command.user, key)
            head = f"Vote withdrawn on {_title(paper.title)}."
        else:
            await self._channel(command)
            await votes.put(
                Vote(
                    channel=str(command.channel),
                    user=command.user,
                    paper_id=key,
                    value=value,
                    title=paper.title,
                    abstract=paper.abstract,
                    message=command.message,
                    at=self.clock(),
                )
            )
            word = "👍 Liked" if value > 0 else "👎 Disliked"
            changed = " (vote changed)" if before is not None else ""
            head = f"{word} {_title(paper.title)}{changed}."
        return Reply(f"{head} {await self._vote_summary(command)}")

    async def _vote_summary(self, command: Command) -> str:
        liked, disliked = tally(await self.stores.votes.for_channel(command.channel))
        counts = f"This channel: {len(liked)} liked, {len(disliked)} disliked."
        if len(liked) >= MIN_LIKES:
            return f"{counts} Its digests are ranked by what it liked."
        return f"{counts} From {MIN_LIKES} liked papers on, its digests are ranked by them."

    async def _cmd_like(self, command: Command, rest: str) -> Reply:
        return await self._vote(command, rest, +1)

    async def _cmd_dislike(self, command: Command, rest: str) -> Reply:
        return await self._vote(command, rest, -1)

    async def _cmd_unvote(self, command: Command, rest: str) -> Reply:
        key = paper_key(rest) if rest else None
        if key is None:
            return _error(f"Say which paper's vote to withdraw. {PAPER_HINT}")
        if not await self.stores.votes.remove(command.channel, command.user, key):
            return _error(f"You have no vote on `{key}` in this channel. Nothing was changed.")
        return Reply(f"Vote withdrawn on `{key}`. {await self._vote_summary(command)}")

    async def _cmd_votes(self, command: Command, rest: str) -> Reply:
        if rest.lower() != "reset":
            if rest:
                return _error(f"`votes {_shown(rest)}`: did you mean `votes reset`?")
            return Reply(await self._vote_summary(command))
        gone = await self.stores.votes.reset(command.channel)
        return Reply(
            f"Forgot this channel's {gone} vote(s): its digests are ranked as for a new channel."
        )

    async def _cmd_save(self, command: Command, rest: str) -> Reply:
        _key, paper, problem = await self._paper(command, rest)
        if problem is not None or paper is None:
            return problem or _error(PAPER_HINT)
        await self._channel(command)
        saved = SavedPaper(paper, command.user, command.message, self.clock())
        if not await self.stores.saves.add(command.channel, saved):
            return Reply(f"🔖 {_title(paper.title)} is already saved here (`unsave` removes it).")
        n = await self.stores.saves.count(command.channel)
        return Reply(
            f"🔖 Saved {_title(paper.title)}: this channel has {n_papers(n)} saved "
            "(`saved` lists them, `export bibtex` gives them as a file)."
        )

    async def _cmd_unsave(self, command: Command, rest: str) -> Reply:
        key = paper_key(rest) if rest else None
        if key is None:
            return _error(f"Say which paper to unsave. {PAPER_HINT}")
        if not await self.stores.saves.remove(command.channel, key):
            return _error(f"`{key}` is not saved in this channel. Nothing was changed.")
        return Reply(f"Removed `{key}` from this channel's saved papers.")

    async def _cmd_saved(self, command: Command, rest: str) -> Reply:
        saved = await self.stores.saves.for_channel(command.channel)
        if not saved:
            return Reply("This channel has saved nothing yet: `save <paper>` or the 🔖 button.")
        return Reply(
            f"This channel's {n_papers(len(saved))} saved (`export bibtex` or `export csv`):",
            matches=tuple(Match(s.paper, (), ()) for s in saved),
        )

    async def _cmd_export(self, command: Command, rest: str) -> Reply:
        kind = rest.lower()
        if kind not in ("bibtex", "csv"):
            return _error("Say which format: `export bibtex` or `export csv`.")
        saved = await self.stores.saves.for_channel(command.channel)
        if not saved:
            return _error("This channel has saved nothing yet, so there is nothing to export.")
        name = f"paperbot-{command.channel.channel}-saved"
        if kind == "bibtex":
            file = Attachment(f"{name}.bib", bibtex(saved).encode(), "application/x-bibtex")
        else:
            file = Attachment(f"{name}.csv", csv_text(saved).encode(), "text/csv")
        return Reply(
            f"This channel's {n_papers(len(saved))} saved, as `{file.filename}`.", attachment=file
        )

    async def _cmd_abstract(self, command: Command, rest: str) -> Reply:
        _key, paper, problem = await self._paper(command, rest)
        if problem is not None or paper is None:
            return problem or _error(PAPER_HINT)
        abstract = " ".join(paper.abstract.split()) or "(no abstract was given for this paper)"
        link = f"\n{paper.url}" if paper.url else ""
        return Reply(f"**{paper.title}**\n{abstract}{link}")

    async def _cmd_more_like(self, command: Command, rest: str) -> Reply:
        _key, paper, problem = await self._paper(command, rest)
        if problem is not None or paper is None:
            return problem or _error(PAPER_HINT)
        similar = await self.pipeline.ranking.similar(paper, MORE_LIKE)
        now = self.clock()
        found = await self.stores.papers.get_many([pid for pid, _ in similar])
        since = now - timedelta(days=SEARCH_DAYS)
        shown = [
            Match(found[pid], (), (), score=round(sim, 3))
            for pid, sim in similar
            if pid in found and (found[pid].first_seen or now) > since
        ][:SEARCH_LIMIT]
        if not shown:
            return Reply(
                f"No stored paper of the last {SEARCH_DAYS} days is like {_title(paper.title)}."
            )
        return Reply(
            f"The {n_papers(len(shown))} of the last {SEARCH_DAYS} days most like "
            f"{_title(paper.title)}:",
            matches=tuple(shown),
        )
