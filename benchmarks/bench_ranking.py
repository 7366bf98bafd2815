"""Ranking that learns: precision@10 of a channel's digest after it voted, against keyword ranking.

Three teams follow `diffusion` over the bundled corpus; each has a labelled interest profile
(benchmarks/ranking_profiles.json: the papers it wants, judged by reading them). The matching
papers are split in two halves. A simulated reader of each team votes on the digests of the
first half, ten papers at a time, each digest ranked by what the channel has learned so far
(keyword ranking until it has liked three): 👍 on the papers it wants, 👎 on the others. Then
the next digest, the other half's papers, is ranked by the channel's model and by keyword
ranking (bot.delivery.digest.rank, what every channel gets today), and precision@10 of both is
reported, after 10 and after 50 votes. Alternatives measured in the same run: LogisticRegression
instead of LinearSVC, and unigrams only. Targets (the shipped model, 50 votes): mean
precision@10 >= 0.7, and >= 0.2 above keyword ranking for every profile.

    python -m benchmarks.bench_ranking
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from adapters.sources.sample import load_sample
from bot.delivery.digest import rank
from bot.models import Match
from bot.query.language import parse
from bot.query.matcher import explain
from bot.ranking.ranker import Ranker
from bot.ranking.taste import fit_features, learn
from bot.stores import Vote

PROFILES = Path(__file__).with_name("ranking_profiles.json")
DIGEST = 10
BUDGETS = (10, 50)
VARIANTS = {  # name: (bigrams, model)
    "linear SVM, uni+bigrams (shipped)": (True, "svm"),
    "logistic regression, uni+bigrams": (True, "logreg"),
    "linear SVM, unigrams only": (False, "svm"),
}


def halves(matches: list[Match]) -> tuple[list[Match], list[Match]]:
    """The matches split alternately (the corpus is in no meaningful order): train, test."""
    return matches[0::2], matches[1::2]


def simulate(
    ranker: Ranker, model: str, train: list[Match], test: list[Match], wanted: set[str], budget: int
) -> float:
    """Vote on first-half digests up to `budget` votes, then precision@10 on the second half."""
    channel = "bench:profile:c"
    votes: list[Vote] = []
    taste = None
    left = list(train)
    while len(votes) < budget and left:
        ordered = ranker.order(taste, left) if taste is not None else rank(left)
        for m in ordered[: min(DIGEST, budget - len(votes))]:
            value = 1 if m.paper.id in wanted else -1
            votes.append(
                Vote(channel, "reader", m.paper.id, value, m.paper.title, m.paper.abstract)
            )
            left = [x for x in left if x.paper.id != m.paper.id]
        assert ranker.features is not None
        taste = learn(ranker.features, channel, votes, model=model)
    ordered = ranker.order(taste, test) if taste is not None else rank(test)
    return sum(m.paper.id in wanted for m in ordered[:DIGEST]) / DIGEST


def main() -> bool:
    """Run every profile under every variant; print the table; True if the targets are met."""
    papers = load_sample(datetime(2026, 11, 30, tzinfo=UTC))
    profiles = json.loads(PROFILES.read_text("utf-8"))["profiles"]
    query = parse(profiles[0]["query"])
    matches = [Match(p, (1,), hits) for p in papers if (hits := explain(query, p)) is not None]
    train, test = halves(matches)
    print(
        f"corpus: {len(papers)} papers; `{query.canonical}` matches {len(matches)}: "
        f"{len(train)} voted on (first half), {len(test)} in the next digest (second half)"
    )
    keyword = {}
    for prof in profiles:
        wanted = {w["id"] for w in prof["wanted"]}
        keyword[prof["name"]] = sum(m.paper.id in wanted for m in rank(test)[:DIGEST]) / DIGEST
    results: dict[tuple[str, int], dict[str, float]] = {}
    for variant, (bigrams, model) in VARIANTS.items():
        ranker = Ranker()
        ranker.features = fit_features(papers, bigrams=bigrams)  # the stored window, once
        for budget in BUDGETS:
            results[(variant, budget)] = {
                prof["name"]: simulate(
                    ranker, model, train, test, {w["id"] for w in prof["wanted"]}, budget
                )
                for prof in profiles
            }
    names = [p["name"] for p in profiles]
    width = max(len(v) for v in VARIANTS) + 12
    print(
        f"\nprecision@10 of the next digest{'':{width - 31}}"
        + "".join(f"{n:>17}" for n in names)
        + "     mean"
    )
    base_mean = sum(keyword.values()) / len(keyword)
    print(
        f"{'keyword ranking (today)':{width}}"
        + "".join(f"{keyword[n]:>17.2f}" for n in names)
        + f"{base_mean:>9.2f}"
    )
    for (variant, budget), row in results.items():
        mean = sum(row.values()) / len(row)
        label = f"{variant}, {budget} votes"
        print(f"{label:{width}}" + "".join(f"{row[n]:>17.2f}" for n in names) + f"{mean:>9.2f}")
    shipped = results[(next(iter(VARIANTS)), max(BUDGETS))]
    mean = sum(shipped.values()) / len(shipped)
    gains = {n: shipped[n] - keyword[n] for n in names}
    print(
        "\nshipped model after 50 votes: mean precision@10 "
        f"{mean:.2f} (target >= 0.70), gain over keyword ranking "
        + ", ".join(f"{n} {g:+.2f}" for n, g in gains.items())
        + " (target >= +0.20 each)"
    )
    ok = mean >= 0.7 and all(g >= 0.2 for g in gains.values())
    print("targets: " + ("PASS" if ok else "FAIL"))
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
