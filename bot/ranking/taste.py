"""A channel's taste: tf-idf features over the stored window, and a linear model per channel.

The features (title and abstract as word uni- and bigrams, hashed) are fitted once per round of
papers and shared by every channel. A channel's model is learned from its votes alone, the way
arxiv-sanity-lite does it: liked papers are the positives, disliked papers and a sample of the
window's other papers the negatives. Everything is deterministic (terms are hashed by a fixed
function, the sample is chosen by a stable hash), so a restart or a second replica rebuilds the
same model from the same votes; nothing but the votes needs storing.

The window is read a chunk at a time and never held whole (a month at 1,000,000 stored is
82,192 papers): each chunk is hashed into term counts (scikit-learn's HashingVectorizer needs
no vocabulary, which for a month's bigrams is millions of strings), and only when the whole
window has been counted are the document frequencies known, the rare and the common terms
dropped and each paper kept as its TERMS highest-weighted terms.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sklearn
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from bot.models import Paper
from bot.ranking.votes import MIN_LIKES, tally
from bot.stores import PaperText, Vote

__all__ = [
    "MIN_LIKES",
    "FeatureFit",
    "Features",
    "Taste",
    "fit_features",
    "learn",
    "paper_text",
    "tally",
]

NEGATIVES = 150  # sampled non-liked papers of the window, besides the disliked ones
BECAUSE_MIN = 0.05  # a liked paper less similar than this explains nothing
SHARED_TERMS_FROM = 100  # papers in the window from which a term must be in two to count
COMMON = 0.5  # a term in more than this share of the window's papers tells none apart
HASH_BITS = 20  # terms are hashed into 2**20 columns: two terms of a month rarely share one
TERMS = 40  # a paper's highest-weighted terms kept (of ~200 in an abstract; see the README)
CHUNK = 2_000  # papers hashed at a time when fitting from a list
_COUNT_BITS = 32 - HASH_BITS  # a term's count, packed above its column while the window is read
_MAX_COUNT = (1 << _COUNT_BITS) - 1  # (a count is only ever used as 1 + log(count))


def paper_text(title: str, abstract: str) -> str:
    """What the features read: the title (twice: it says most in fewest words) and abstract."""
    return f"{title}. {title}. {abstract}"


def _hasher(bigrams: bool) -> HashingVectorizer:
    return HashingVectorizer(
        ngram_range=(1, 2) if bigrams else (1, 1),
        stop_words="english",
        alternate_sign=False,
        norm=None,
        n_features=1 << HASH_BITS,
        dtype=np.float32,
    )


@dataclass(frozen=True)
class Features:
    """The window's papers as tf-idf rows (each its TERMS best terms, L2-normalised), and what
    turns any other paper into a row of the same columns."""

    columns: np.ndarray  # hashed column -> feature column (-1: a term too rare or too common)
    idf: np.ndarray  # per feature column
    rows: dict[str, int]  # paper id -> row in `matrix`
    matrix: sparse.csr_matrix
    ids: tuple[str, ...]
    hasher: HashingVectorizer = field(default_factory=lambda: _hasher(True))

    def transform(self, texts: Iterable[str]) -> sparse.csr_matrix:
        """Texts as rows of the window's features."""
        counts = self.hasher.transform(texts)
        return _weigh(counts.indices, counts.data, counts.indptr, self.columns, self.idf)

    @cached_property
    def _by_column(self) -> sparse.csr_matrix:
        """The matrix transposed, a row per feature column (built on first use, once per
        fit): a paper's similarities then read only the columns it has, not every row of the
        window (41,096 rows at 500,000 stored: 0.2 ms against 10.5 ms)."""
        return self.matrix.T.tocsr()

    def similarities(self, row: sparse.csr_matrix) -> np.ndarray:
        """The cosine of one row of these features with each of the window's rows."""
        by_column = self._by_column[row.indices]
        return np.asarray(by_column.T @ row.data, dtype=np.float32).ravel()

    def vectors(self, papers: Sequence[Paper]) -> sparse.csr_matrix:
        """The papers' rows: looked up for the window's, computed for any other."""
        known = [self.rows.get(p.id) for p in papers]
        if all(i is not None for i in known):
            return self.matrix[known]
        extra = [p for p, i in zip(papers, known, strict=True) if i is None]
        computed = self.transform(paper_text(p.title, p.abstract) for p in extra)
        out, j = [], 0
        for i in known:
            if i is None:
                out.append(computed[j])
                j += 1
            else:
                out.append(self.matrix[i])
        return sparse.vstack(out, format="csr")


def _weigh(
    hashed: np.ndarray, counts: np.ndarray, indptr: np.ndarray, columns: np.ndarray, idf: np.ndarray
) -> sparse.csr_matrix:
    """Rows of hashed term counts (CSR parts) as tf-idf rows: sublinear tf times idf, the terms
    dropped from the features left out, each row's TERMS highest weights kept (ties by column),
    L2-normalised."""
    n = len(indptr) - 1
    row = np.repeat(np.arange(n, dtype=np.int32), np.diff(indptr))
    col = columns[hashed]
    kept = col >= 0
    row, col = row[kept], col[kept]
    weight = (1 + np.log(counts[kept].astype(np.float32))) * idf[col]
    best = np.lexsort((col, -weight, row))  # by row, then heaviest first
    row, col, weight = row[best], col[best], weight[best]
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]]) if len(row) else row
    place = np.arange(len(row)) - np.repeat(starts, np.diff(np.r_[starts, len(row)]))
    top = place < TERMS
    row, col, weight = row[top], col[top], weight[top]
    ordered = np.lexsort((col, row))  # CSR order: by row, then by column
    row, col, weight = row[ordered], col[ordered], weight[ordered]
    norms = np.sqrt(np.bincount(row, weights=weight.astype(np.float64) ** 2, minlength=n))
    weight = (weight / norms[row]).astype(np.float32)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n), out=ptr[1:])
    out = sparse.csr_matrix((weight, col, ptr), shape=(n, len(idf)))
    out.has_sorted_indices = True
    return out


class FeatureFit:
    """Features fitted as the window is read, a chunk at a time (`add`, then `finish`).

    While it reads, each paper's hashed terms and their counts (a term in one 32-bit word:
    column below, count above) are written to a temporary file, not held: which terms a paper
    keeps depends on every paper's (document frequencies), and a month at 1,000,000 stored has
    16.8 million of them (64 MB). The texts themselves are not kept at all, and hashing them
    again instead would double the fit's time (19 to 28 s for that month on a slow machine)."""

    def __init__(self, *, bigrams: bool = True) -> None:
        self.hasher = _hasher(bigrams)
        self._df = np.zeros(1 << HASH_BITS, dtype=np.int32)
        self._ids: list[str] = []
        # Lives as long as the fit (closed by `finish` or `close`, or when the fit is let go);
        # unlinked at once, so nothing is left behind on disk.
        self._spill = tempfile.TemporaryFile(prefix="paperbot-features-")  # noqa: SIM115
        self._parts: list[tuple[int, np.ndarray]] = []  # (packed terms in the file, indptr)

    def add(self, papers: Sequence[Paper | PaperText]) -> None:
        """Count the terms of the next papers of the window."""
        if not papers:
            return
        counts = self.hasher.transform(paper_text(p.title, p.abstract) for p in papers)
        self._df += np.bincount(counts.indices, minlength=len(self._df)).astype(np.int32)
        capped = np.minimum(counts.data, _MAX_COUNT).astype(np.uint32)
        packed = (capped << HASH_BITS) | counts.indices.astype(np.uint32)
        self._spill.write(packed)  # (the array's own buffer: no copy)
        self._parts.append((len(packed), counts.indptr))
        self._ids += [p.id for p in papers]

    @property
    def ids(self) -> list[str]:
        """The papers counted so far, in the order they were added."""
        return self._ids

    def close(self) -> None:
        """Let go of the counts (`finish` does; a fit left unfinished may call it)."""
        self._parts = []
        self._spill.close()

    def finish(self) -> Features | None:
        """The features of every paper added (None when there are too few to learn from, or
        nothing but stop words); the counts are let go once their rows are made."""
        try:
            return self._features()
        finally:
            self._df = np.zeros(0, dtype=np.int32)
            self.close()

    def _features(self) -> Features | None:
        n = len(self._ids)
        if n < 2:
            return None
        least = 2 if n >= SHARED_TERMS_FROM else 1
        useful = (self._df >= least) & (self._df <= COMMON * n)
        width = int(useful.sum())
        if not width:
            return None
        columns = np.full(len(self._df), -1, dtype=np.int32)
        columns[useful] = np.arange(width, dtype=np.int32)
        idf = (np.log((1 + n) / (1 + self._df[useful])) + 1).astype(np.float32)
        # Rows written into arrays made once (each paper keeps at most TERMS terms), so the
        # month's matrix is never copied whole to be joined.
        data = np.empty(n * TERMS, dtype=np.float32)
        indices = np.empty(n * TERMS, dtype=np.int32)
        indptr = np.zeros(n + 1, dtype=np.int64)
        done = filled = 0
        mask = np.uint32((1 << HASH_BITS) - 1)
        self._spill.seek(0)
        for terms, ptr in self._parts:  # read back a chunk at a time
            packed = np.frombuffer(self._spill.read(terms * 4), dtype=np.uint32)
            rows = _weigh(packed & mask, packed >> HASH_BITS, ptr, columns, idf)
            size = rows.nnz
            data[filled : filled + size] = rows.data
            indices[filled : filled + size] = rows.indices
            indptr[done + 1 : done + rows.shape[0] + 1] = rows.indptr[1:] + filled
            done, filled = done + rows.shape[0], filled + size
        matrix = sparse.csr_matrix((data[:filled], indices[:filled], indptr), shape=(n, width))
        matrix.has_sorted_indices = True  # (so that no training sorts its rows again)
        ids = tuple(self._ids)
        return Features(
            columns, idf, {pid: i for i, pid in enumerate(ids)}, matrix, ids, self.hasher
        )


def fit_features(papers: Iterable[Paper | PaperText], *, bigrams: bool = True) -> Features | None:
    """Fit the features over the window's papers (None when there are too few to learn from)."""
    fit = FeatureFit(bigrams=bigrams)
    unique = list({p.id: p for p in papers}.values())
    for start in range(0, len(unique), CHUNK):
        fit.add(unique[start : start + CHUNK])
    return fit.finish()


@dataclass(frozen=True)
class Taste:
    """A channel's learned ranking: a weight vector over the features, and its liked papers
    (to say which one a ranked paper is most like).

    The weights are kept sparse, one row: a linear model trained on a few hundred rows weighs
    only the columns those rows have, while the width grows with the window's vocabulary.
    Measured with 20 votes: 5,004 of 31,171 columns over the delivery benchmark's 2,000
    papers (40 KB against 125 KB dense), 4,594 of 51,213 over the commands benchmark's month
    at 1,000,000 stored (37 KB against 205 KB); 64 models are kept."""

    coef: sparse.csr_matrix  # 1 x the features' width
    intercept: float
    liked: sparse.csr_matrix
    liked_titles: tuple[str, ...]

    @property
    def width(self) -> int:
        """The width of the features it was learned over."""
        return int(self.coef.shape[1])

    def score(self, vectors: sparse.csr_matrix) -> np.ndarray:
        """How much the channel would like each row."""
        # Against the weights made dense for the while: 12 times faster for a digest's rows
        # than a product of two sparse matrices, and the same sums.
        return np.asarray(vectors @ self.coef.toarray().ravel()).ravel() + self.intercept

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
    dense = np.asarray(clf.coef_, dtype=np.float32).ravel()  # float32: half the memory
    kept = np.flatnonzero(dense)  # every weight that is not zero: the same scores
    coef = sparse.csr_matrix(
        (dense[kept], kept.astype(np.int32), np.array([0, len(kept)])), shape=(1, len(dense))
    )
    liked_rows = voted_rows[: len(liked)]
    titles = tuple(v.title for v in liked.values())
    return Taste(coef, float(clf.intercept_[0]), liked_rows, titles)
