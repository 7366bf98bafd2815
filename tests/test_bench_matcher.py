"""The matcher benchmark's workload, small: it parses, and the index agrees with the naive way."""

from __future__ import annotations

import random

from benchmarks.bench_matcher import SEED, load_corpus, make_papers, make_queries
from bot.query.language import parse
from bot.query.matcher import SubscriptionIndex
from bot.query.regex_matcher import FoldedPaper, compile_query


def test_generated_workload_parses_and_index_agrees_with_naive() -> None:
    rng = random.Random(SEED)
    corpus = load_corpus()
    papers = make_papers(corpus, 300, rng)[-30:]  # later copies carry the variations
    queries = [parse(text) for text in make_queries(corpus, 3000, rng)]
    index = SubscriptionIndex()
    for key, query in enumerate(queries):
        index.add(key, query)
    predicates = [compile_query(q) for q in queries]
    results = index.match_many(papers)
    matched = 0
    for paper in papers:
        folded = FoldedPaper.of(paper)
        expected = {k for k, matches in enumerate(predicates) if matches(folded)}
        assert set(results[paper.id]) == expected
        matched += len(expected)
    assert matched > 0
