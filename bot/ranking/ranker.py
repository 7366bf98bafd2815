"""The ranking a pipeline keeps: features fitted once per round, each channel's model cached
until its votes change, and digest order by the model where a channel has one."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from bot.models import Match, Paper
from bot.ranking.taste import FeatureFit, Features, Taste, learn
from bot.stores import Vote

CACHED_TASTES = 64  # channels' models kept (features are refitted each poll, which clears them)


def fingerprint(votes: Sequence[Vote]) -> str:
    """What a channel's model depends on: its votes (who, which paper, which way)."""
    h = hashlib.blake2b(digest_size=16)
    for v in sorted(votes, key=lambda v: (v.paper_id, v.user)):
        h.update(f"{v.paper_id}\0{v.user}\0{v.value}\n".encode())
    return h.hexdigest()


class Ranker:
    """Features for the current window, and channels' models learned from their votes."""

    def __init__(self) -> None:
        self.features: Features | None = None
        self._window: tuple[int, str] | None = None
        self._tastes: OrderedDict[str, tuple[str, Taste | None]] = OrderedDict()
        # Models are learned on the event loop, features refitted in a worker thread:
        # the lock guards the cache only, never a training.
        self._lock = threading.Lock()

    @staticmethod
    def new_fit() -> FeatureFit:
        """An empty fit, to be given the window's papers a page at a time."""
        return FeatureFit()

    def refit(self, fit: FeatureFit) -> Features | None:
        """The features of the window `fit` has read, unless it read the one fitted last (then
        the channels' models learned over it are kept)."""
        key = (len(fit.ids), hashlib.blake2b("\n".join(sorted(fit.ids)).encode()).hexdigest())
        if key == self._window:
            fit.close()
            return self.features
        features = fit.finish()
        with self._lock:
            self.features = features
            self._window = key
            self._tastes.clear()  # weights belong to the features they were learned over
        return features

    def taste(self, channel: str, votes: Sequence[Vote]) -> Taste | None:
        """The channel's model: cached while its votes and the features are unchanged."""
        features = self.features
        if features is None or not votes:
            return None
        key = fingerprint(votes)
        with self._lock:
            cached = self._tastes.get(channel)
            if cached is not None and cached[0] == key:
                self._tastes.move_to_end(channel)
                return cached[1]
        taste = learn(features, channel, votes)
        with self._lock:
            if features is self.features:  # (not refitted meanwhile)
                self._tastes[channel] = (key, taste)
                if len(self._tastes) > CACHED_TASTES:
                    self._tastes.popitem(last=False)
        return taste

    def order(self, taste: Taste, matches: Sequence[Match]) -> list[Match]:
        """The matches best first by the channel's model, each with its score and why."""
        if not matches or self.features is None or taste.width != self.features.matrix.shape[1]:
            return list(matches)  # (features refitted meanwhile: the next round ranks)
        vectors = self.features.vectors([m.paper for m in matches])
        scores = taste.score(vectors)
        why = taste.because(vectors)
        scored = [  # (built directly: dataclasses.replace costs five times as much)
            Match(m.paper, m.subscription_ids, m.hits, round(s, 4), b)
            for m, s, b in zip(matches, scores.tolist(), why, strict=True)
        ]
        return sorted(scored, key=lambda m: (-(m.score or 0.0), m.paper.id))

    def similar(self, paper: Paper, limit: int) -> list[tuple[str, float]]:
        """The window's papers most like `paper` (tf-idf cosine), best first, itself left out;
        equally like it, the newer first (the window's rows are oldest first)."""
        features = self.features
        if features is None:
            return []
        sims = features.similarities(features.vectors([paper]))
        rows = np.flatnonzero(sims > 0)
        if len(rows) > limit + 1:  # the best limit + 1 (itself among them?), ties kept
            best = np.argpartition(-sims[rows], limit)[: limit + 1]
            rows = rows[sims[rows] >= sims[rows[best]].min()]
        out = []
        for i in rows[np.lexsort((-rows, -sims[rows]))].tolist():
            pid = features.ids[i]
            if pid != paper.id:
                out.append((pid, float(sims[i])))
                if len(out) == limit:
                    break
        return out
