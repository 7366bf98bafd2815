"""A channel's taste: tf-idf features over the stored window, and a linear model per channel.

The features (a TfidfVectorizer over title and abstract, word uni- and bigrams) are fitted once
per round of papers and shared by every channel. A channel's model is learned from its votes
alone, the way arxiv-sanity-lite does it: liked papers are the positives, disliked papers and a
sample of the window's other papers the negatives. Everything is deterministic (the sample is
chosen by a stable hash), so a restart or a second replica rebuilds the same model from the
same votes; nothing but the votes needs storing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sklearn
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from bot.models import Paper
from bot.ranking.votes import MIN_LIKES, tally
from bot.stores import PaperText, Vote

__all__ = ["MIN_LIKES", "Features", "Taste", "fit_features", "learn", "paper_text", "tally"]

NEGATIVES = 150  # sampled non-liked papers of the window, besides the disliked ones
BECAUSE_MIN = 0.05  # a liked paper less similar than this explains nothing
SHARED_TERMS_FROM = 100  # papers in the window from which a term must be in two to count


def paper_text(title: str, abstract: str) -> str:
    """What the features read: the title (twice: it says most in fewest words) and abstract."""
    return f"{title}. {title}. {abstract}"


@dataclass(frozen=True)
class Features:
    """The window's papers as tf-idf rows (L2-normalised), and the fitted vectoriser."""

    vectorizer: TfidfVectorizer
    rows: dict[str, int]  # paper id -> row in `matrix`
    matrix: sparse.csr_matrix
    ids: tuple[str, ...]

    def vectors(self, papers: Sequence[Paper]) -> sparse.csr_matrix:
        """The papers' rows: looked up for the window's, computed for any other."""
        known = [self.rows.get(p.id) for p in papers]
        if all(i is not None for i in known):
            return self.matrix[known]
        extra = [p for p, i in zip(papers, known, strict=True) if i is None]
        computed = self.vectorizer.transform([paper_text(p.title, p.abstract) for p in extra])
        computed.sort_indices()
        out, j = [], 0
        for i in known:
            if i is None:
                out.append(computed[j])
                j += 1
            else:
                out.append(self.matrix[i])
        return sparse.vstack(out, format="csr")


def fit_features(papers: Sequence[Paper | PaperText], *, bigrams: bool = True) -> Features | None:
    """Fit the vectoriser over the window's papers (None when there are too few to learn from)."""
    unique = list({p.id: p for p in papers}.values())
    if len(unique) < 2:
        return None
    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2) if bigrams else (1, 1),
        stop_words="english",
        sublinear_tf=True,
        # A term in a single paper of the window tells no paper apart from others: dropped, it
        # takes most of the vocabulary's memory with it (the bigrams of a month's papers), and
        # the ranking benchmark gained by it (mean precision@10 0.70 -> 0.73).
        min_df=2 if len(unique) >= SHARED_TERMS_FROM else 1,
        max_df=0.5,
        dtype=np.float32,  # half the memory; a channel's few hundred training rows are copied
    )
    try:
        # (read as it goes: a list of a month's texts would be one more copy of them)
        matrix = vectorizer.fit_transform(paper_text(p.title, p.abstract) for p in unique)
    except ValueError:  # nothing but stop words
        return None
    ids = tuple(p.id for p in unique)
    matrix = matrix.tocsr()
    matrix.sort_indices()  # once here, so that no training sorts its rows again
    return Features(vectorizer, {pid: i for i, pid in enumerate(ids)}, matrix, ids)


@dataclass(frozen=True)
class Taste:
    """A channel's learned ranking: a weight vector over the features, and its liked papers
    (to say which one a ranked paper is most like)."""

    coef: np.ndarray
    intercept: float
    liked: sparse.csr_matrix
    liked_titles: tuple[str, ...]

    def score(self, vectors: sparse.csr_matrix) -> np.ndarray:
        """How much the channel would like each row."""
        return np.asarray(vectors @ self.coef).ravel() + self.intercept

    def because(self, vectors: sparse.csr_matrix) -> list[str | None]:
        """For each row, the title of the liked paper most similar to it (if any is)."""
        sims = (vectors @ self.liked.T).toarray()
        sims[sims > 0.999] = 0.0  # a liked paper is not its own reason
        best = sims.argmax(axis=1)
        return [
            self.liked_titles[j] if sims[i, j] >= BECAUSE_MIN else None for i, j in enumerate(best)
        ]


def _float64(rows: sparse.csr_matrix) -> sparse.csr_matrix:
    """The rows as liblinear trains on them. Built directly: the vectoriser's rows come with
    their indices sorted, and `astype` would sort them again (half the cost of a training)."""
    out = sparse.csr_matrix((rows.data.astype(np.float64), rows.indices, rows.indptr), rows.shape)
    out.has_sorted_indices = True
    return out


def _stable(channel: str, paper_id: str) -> bytes:
    return hashlib.blake2b(f"{channel}\0{paper_id}".encode(), digest_size=8).digest()


def learn(
    features: Features,
    channel: str,
    votes: Sequence[Vote],
    *,
    negatives: int = NEGATIVES,
    model: str = "svm",
) -> Taste | None:
    """The channel's model from its votes, or None below MIN_LIKES liked papers."""
    liked, disliked = tally(votes)
    if len(liked) < MIN_LIKES:
        return None
    voted = [*liked.values(), *disliked.values()]
    # The sample is drawn by a generator seeded from the channel: the same channel and window
    # always give the same negatives, on every replica.
    rng = np.random.default_rng(int.from_bytes(_stable(channel, ""), "big"))
    n = len(features.ids)
    drawn = rng.choice(n, size=min(n, negatives + len(voted)), replace=False)
    sampled = [
        int(i)
        for i in sorted(drawn)
        if features.ids[i] not in liked and features.ids[i] not in disliked
    ][:negatives]
    rows = [features.rows.get(v.paper_id) for v in voted]
    if all(i is not None for i in rows):  # the common case: one slice of the window's rows
        x = features.matrix[[*rows, *sampled]]
        voted_rows = x[: len(voted)]
    else:  # a voted paper outside the window is learned from its stored text
        voted_rows = features.vectors(
            [Paper(id=v.paper_id, title=v.title, abstract=v.abstract) for v in voted]
        )
        x = sparse.vstack([voted_rows, features.matrix[sampled]], format="csr")
    positives, others = len(liked), len(disliked) + len(sampled)
    if not others:  # nothing to tell the liked papers from yet
        return None
    y = np.array([1] * positives + [0] * others)
    # "balanced" class weights, worked out here: scikit-learn's own check costs more than the
    # training itself on a few hundred rows, as does validating parameters that are constants.
    weights = {1: len(y) / (2 * positives), 0: len(y) / (2 * others)}
    if model == "svm":  # arxiv-sanity-lite's choice; trains in milliseconds on a few hundred rows
        clf: LogisticRegression | LinearSVC = LinearSVC(
            C=0.1, class_weight=weights, tol=1e-3, max_iter=1000, random_state=0
        )
    else:
        clf = LogisticRegression(C=1.0, class_weight=weights, solver="liblinear", random_state=0)
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        clf.fit(_float64(x), y)
    coef = np.asarray(clf.coef_, dtype=np.float32).ravel()  # kept: half the memory
    liked_rows = voted_rows[: len(liked)]
    titles = tuple(v.title for v in liked.values())
    return Taste(coef, float(clf.intercept_[0]), liked_rows, titles)
