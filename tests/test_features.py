"""The ranking's features: fitted a page at a time, each paper its best terms, the same row for
a paper whether it is in the window or computed from its text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from adapters.sources.sample import load_sample
from bot.models import Paper
from bot.ranking import taste
from bot.ranking.ranker import Ranker
from bot.ranking.taste import TERMS, FeatureFit, fit_features, paper_text
from bot.stores import Vote

PAPERS = load_sample(datetime(2026, 11, 30, tzinfo=UTC))


def test_pages_of_any_size_give_the_same_features():
    whole = fit_features(PAPERS)
    fit = FeatureFit()
    for start, size in ((0, 1), (1, 100), (101, 7), (108, 1000)):
        fit.add(PAPERS[start : start + size])
    paged = fit.finish()
    assert whole is not None and paged is not None
    assert paged.ids == tuple(p.id for p in PAPERS)
    assert (whole.matrix != paged.matrix).nnz == 0
    assert np.array_equal(whole.idf, paged.idf)


def test_each_paper_keeps_its_heaviest_terms_normalised(monkeypatch):
    features = fit_features(PAPERS)
    assert features is not None
    per_paper = np.diff(features.matrix.indptr)
    assert per_paper.max() == TERMS  # (an abstract has ~200 terms)
    norms = np.sqrt(features.matrix.multiply(features.matrix).sum(axis=1)).A1
    assert np.allclose(norms, 1.0, atol=1e-5)
    # Kept are the heaviest: every term dropped from a paper weighs no more than the lightest
    # kept, and the order of the rest is unchanged (by one paper's full row, unnormalised).
    paper = PAPERS[0]
    with monkeypatch.context() as m:
        m.setattr(taste, "TERMS", 10**6)
        full = features.transform([paper_text(paper.title, paper.abstract)]).toarray().ravel()
    kept = features.matrix[0].toarray().ravel()
    assert np.count_nonzero(full) > TERMS
    assert full[kept == 0].max() <= full[kept > 0].min()
    assert np.allclose(kept[kept > 0], full[kept > 0] / np.linalg.norm(full[kept > 0]), atol=1e-5)


def test_a_paper_outside_the_window_gets_the_row_it_would_have_inside():
    features = fit_features(PAPERS)
    assert features is not None
    inside = PAPERS[3]
    outside = Paper(id="arxiv:9999.00001", title=inside.title, abstract=inside.abstract)
    both = features.vectors([outside, inside])
    assert np.allclose(both[0].toarray(), both[1].toarray())
    assert features.rows[inside.id] == 3


def test_terms_of_one_paper_and_of_most_papers_are_not_features():
    common = " common ground"
    papers = [
        Paper(id=f"p{i}", title=f"topic{i % 50} study", abstract=f"word{i % 40} {common}")
        for i in range(120)
    ]
    papers.append(Paper(id="lonely", title="unique zebra", abstract="zebra" + common))
    features = fit_features(papers)
    assert features is not None
    row = features.transform(["zebra common ground topic1"])
    assert row.nnz == 1  # only topic1: zebra is in one paper, "common ground" in all of them


def test_stop_words_alone_or_one_paper_give_no_features():
    assert fit_features([Paper(id=i, title="the", abstract="and of") for i in "abc"]) is None
    assert (
        fit_features([Paper(id="a", title="the", abstract="and"), Paper(id="b", title="of")])
        is None
    )
    assert fit_features(PAPERS[:1]) is None
    assert FeatureFit().finish() is None


def test_a_model_keeps_only_the_weights_its_training_rows_have():
    features = fit_features(PAPERS)
    assert features is not None
    liked = [p for p in PAPERS if "distill" in p.title.lower()][:4]
    disliked = [p for p in PAPERS if "video" in p.title.lower()][:3]
    votes = [Vote("console:local:a", "U1", p.id, 1, p.title) for p in liked]
    votes += [Vote("console:local:a", "U1", p.id, -1, p.title) for p in disliked]
    model = taste.learn(features, "console:local:a", votes)
    assert model is not None and model.width == features.matrix.shape[1]
    # At most every column of the rows it was trained on (its votes and the sampled others).
    trained = len(votes) + taste.NEGATIVES
    assert 0 < model.coef.nnz <= trained * TERMS and model.coef.nnz < model.width
    # Scores as a dense weight vector gives them, and the liked papers first.
    dense = model.coef.toarray().ravel()
    want = features.matrix @ dense + model.intercept
    assert np.allclose(model.score(features.matrix), want)
    rows = [features.rows[p.id] for p in liked]
    assert min(model.score(features.matrix[rows])) > np.median(want)


def test_more_like_is_every_row_compared_best_first_newer_on_ties():
    ranker = Ranker()
    ranker.features = features = fit_features(_twins(PAPERS))
    assert features is not None
    dense = features.matrix.toarray()
    for paper in (PAPERS[0], PAPERS[17], Paper(id="arxiv:9999.00001", title="Video diffusion")):
        row = features.vectors([paper]).toarray().ravel()
        sims = dense @ row
        expected = sorted(
            (i for i in range(len(sims)) if sims[i] > 0 and features.ids[i] != paper.id),
            key=lambda i: (-float(sims[i]), -i),
        )[:12]
        got = ranker.similar(paper, 12)
        assert [pid for pid, _ in got] == [features.ids[i] for i in expected]
        assert np.allclose([s for _, s in got], sims[expected], atol=1e-5)
    # A twin (same text, newer row) ties with the original: the newer comes first.
    outside = replace(PAPERS[5], id="arxiv:9999.00002")
    assert [pid for pid, _ in ranker.similar(outside, 2)] == [f"{PAPERS[5].id}-twin", PAPERS[5].id]


def _twins(papers: list[Paper]) -> list[Paper]:
    """The papers, then a copy of the first ten under new ids (equal rows, newer)."""
    return [*papers, *(replace(p, id=f"{p.id}-twin") for p in papers[:10])]
