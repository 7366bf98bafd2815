"""The ranking as the pipeline and the commands use it: votes read, features kept fresh."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.models import ChannelRef, Match, Paper
from bot.ports import Clock
from bot.ranking.votes import MIN_LIKES, tally
from bot.stores import Stores, Vote

if TYPE_CHECKING:
    from bot.ranking.ranker import Ranker
    from bot.ranking.taste import Taste

WINDOW = timedelta(days=30)  # the stored papers the features are fitted over


class Ranking:
    """Per-channel ranking over the stored window, refitted at most once per poll."""

    def __init__(self, stores: Stores, clock: Clock, refit_every: timedelta) -> None:
        self.stores = stores
        self.clock = clock
        self.refit_every = refit_every
        self._ranker: Ranker | None = None
        self._fitted_at: datetime | None = None
        self._stale = True
        self._refitting = asyncio.Lock()

    @property
    def ranker(self) -> Ranker:
        """The features and models; scikit-learn is imported when a channel first ranks, so a
        bot whose channels never vote never loads it."""
        if self._ranker is None:
            from bot.ranking.ranker import Ranker

            self._ranker = Ranker()
        return self._ranker

    def papers_changed(self) -> None:
        """New papers were stored: refit the features before the next ranking."""
        self._stale = True

    async def refresh(self) -> None:
        """Fit the features over the stored window if papers changed since (or it is old)."""
        async with self._refitting:
            now = self.clock()
            fresh = self._fitted_at is not None and now - self._fitted_at < self.refit_every
            if fresh and not self._stale:
                return
            self._stale = False
            # In worker threads: the first use imports scikit-learn (seconds), and hashing a
            # month's papers takes seconds more; neither may hold up the event loop (commands,
            # buttons, posts). The window is read a page at a time, never whole.
            ranker = await asyncio.to_thread(lambda: self.ranker)
            fit = ranker.new_fit()
            async for texts in self.stores.papers.texts_between(now - WINDOW, now):
                await asyncio.to_thread(fit.add, texts)
            await asyncio.to_thread(ranker.refit, fit)
            self._fitted_at = now

    async def taste(self, ref: ChannelRef, votes: Sequence[Vote] | None = None) -> Taste | None:
        """The channel's model, or None while it has fewer than MIN_LIKES liked papers."""
        if votes is None:
            votes = await self.stores.votes.for_channel(ref)
        liked, _ = tally(votes)
        if len(liked) < MIN_LIKES:
            return None
        await self.refresh()
        features = self.ranker.features
        if features is not None and any(v.paper_id not in features.rows for v in votes):
            # A round's votes come without their papers' text (it would fill memory); a paper
            # outside the window (pruned, or older) is learned from the text stored with its vote.
            votes = await self.stores.votes.for_channel(ref)
        # On the event loop, not in a worker thread: a model trains in ~2 ms, most of it Python
        # that holds the GIL, and a sweep's worth of them in threads cost the loop more in GIL
        # hand-overs (up to 5 ms each) than the training itself.
        return self.ranker.taste(str(ref), votes)

    async def order(self, ref: ChannelRef, matches: Sequence[Match]) -> list[Match] | None:
        """The matches in the channel's learned order, or None if it has no model yet."""
        taste = await self.taste(ref)
        if taste is None:
            return None
        return self.ranker.order(taste, matches)

    async def similar(self, paper: Paper, limit: int) -> list[tuple[str, float]]:
        """The stored window's papers most like `paper`, best first: (id, cosine)."""
        await self.refresh()
        # In a worker thread: the first after each fit transposes the window's features
        # (3.3 million entries at 1,000,000 stored), longer than the loop may be held.
        return await asyncio.to_thread(self.ranker.similar, paper, limit)
