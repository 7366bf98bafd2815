"""Reading papers: digest, preview, search, trending."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.commands.base import SEARCH_DAYS, SEARCH_LIMIT, CommandBase, _error, _query_error, n_papers
from bot.models import Command, Match, Paper, Reply
from bot.query.language import QueryError, parse

log = logging.getLogger(__name__)


class PaperCommands(CommandBase):
    """digest, preview, search, trending."""

    async def _cmd_digest(self, command: Command, rest: str) -> Reply:
        await self._channel(command)
        report = await self.pipeline.run_digest(command.channel)
        if report.posted:
            more = f" ({report.more} more matched: `search` finds them)" if report.more else ""
            return Reply(f"Posted {n_papers(report.papers)} in {report.posted} message(s){more}.")
        if report.note:
            return Reply(f"Nothing posted: {report.note}.")
        return Reply("Nothing new matches this channel's subscriptions since the last digest.")

    async def _cmd_preview(self, command: Command, rest: str) -> Reply:
        digest = await self.pipeline.preview(command.channel)
        if digest.empty:
            return Reply("The next digest is empty so far: nothing new matches yet.")
        more = f" (and {digest.more} more)" if digest.more else ""
        return Reply(
            f"The next digest would hold {n_papers(len(digest.items))}{more}:", matches=digest.items
        )

    async def _cmd_search(self, command: Command, rest: str) -> Reply:
        if not rest:
            return _error("Give a query, e.g. `search diffusion video`.")
        try:
            query = parse(rest)
        except QueryError as exc:
            return _query_error(exc, rest)
        found = await self.pipeline.find(query, SEARCH_DAYS, SEARCH_LIMIT)
        if not found.total:
            return Reply(f"No paper of the last {SEARCH_DAYS} days matches `{query.canonical}`.")
        shown = found.matches
        return Reply(
            f"{n_papers(found.total)} of the last {SEARCH_DAYS} days match `{query.canonical}`"
            + (f"; the best {len(shown)}:" if len(shown) < found.total else ":"),
            matches=tuple(shown),
        )

    async def _cmd_trending(self, command: Command, rest: str) -> Reply:
        papers = await self.trending()
        if not papers:
            return Reply("No Hugging Face daily papers are stored for today yet.")
        shown = papers[:SEARCH_LIMIT]
        return Reply(
            "Today's most upvoted papers on Hugging Face:",
            matches=tuple(Match(p, (), ()) for p in shown),
        )

    async def trending(self) -> list[Paper]:
        """Today's Hugging Face papers by upvotes: live when the source can, else stored."""
        if self.trending_source is not None:
            try:
                return await self.trending_source()
            except Exception as exc:
                log.warning("live trending failed, using stored papers: %s", exc)
        now = self.clock()
        return await self.stores.papers.most_upvoted(
            "huggingface", now - timedelta(hours=36), now, SEARCH_LIMIT
        )
