"""Baselines are servable candidates (issue 14): a learned recommender that loses to a
baseline on the holdout is registered as that baseline, scoring serves that baseline's
lists, and every row says so. Real training and a DuckDB warehouse, nothing mocked."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from tasks.score import recommendations as scoring
from tasks.train import recommender, registry
from tasks.train.common import load_artefact
from tasks.train.ranking_baselines import top_k_items
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures import synthetic_frames

D = date(2024, 3, 1)
AS_OF = datetime(2024, 3, 1)
# A learned model that cannot learn: one epoch at a negligible learning rate, no fusion.
CRIPPLED = recommender.RecommenderConfig(epochs=1, lr=1e-7, embedding_dim=8, max_history=10, fusion=False)
# Strong enough to learn the planted successor chain (as in tests/train/test_recommender.py).
SMALL = recommender.RecommenderConfig(epochs=15, embedding_dim=32, max_history=10, dropout=0.1, lr=5e-3)


def _load_events(seed: int) -> None:
    events = synthetic_frames.fct_events(AS_OF, seed=seed)
    replace_partition("marts.fct_events", events, {})


def test_a_model_that_loses_is_registered_and_served_as_the_best_baseline(isolated_home) -> None:
    _load_events(5)
    result = recommender.train(D, "train-1", CRIPPLED)
    assert result.status == "champion"
    art = load_artefact(registry.champion("recommender").artefact_uri)
    strategy = art.preprocessing["serving_strategy"]
    assert strategy.startswith("baseline:")
    name = strategy.split(":", 1)[1]
    assert name in recommender.BASELINES
    assert result.version.startswith(f"recommender-baseline_{name}-")
    # What is registered (and compared at promotion) is the served policy: the best of every
    # baseline, strictly above the learned model.
    rivals = result.baseline_metrics
    learned = rivals[f"learned:{recommender.MODEL_NAME}"]
    assert learned == art.extra_metrics["learned_metrics"]
    assert learned["hr_at_10"] < result.metrics["hr_at_10"]
    assert all(m["hr_at_10"] <= result.metrics["hr_at_10"] for m in rivals.values())
    assert set(rivals) | {name} == set(recommender.BASELINES) | {f"learned:{recommender.MODEL_NAME}"}
    assert "holdout = last 6 day(s)" in art.extra_metrics["protocol"]  # 30-day source: 20 % of it
    # The learned version was registered too, and rejected.
    learned_entry = [e for e in registry.entries("recommender") if e.version == art.extra_metrics["learned_version"]]
    assert len(learned_entry) == 1 and learned_entry[0].status != "champion"

    recs, version = scoring.build_recommendations(D)
    assert version == result.version
    assert set(recs["strategy"]) == {name}
    assert set(recs["model_version"]) == {result.version}

    # The served lists are the baseline's own, rebuilt from every interaction before D.
    inter = recommender.interactions_from_frames(read_frame("SELECT * FROM marts.fct_events"), pd.DataFrame(),
                                                 CRIPPLED)
    vocab = list(art.preprocessing["vocab"])
    ranker = recommender.policy_ranker(name, None, vocab, CRIPPLED, {}, inter, AS_OF, scoring.pick_device())
    users = sorted(inter["user_id"].unique())[:5]
    ctx = recommender.user_contexts(inter, vocab, users, CRIPPLED.max_history, AS_OF)
    top = top_k_items(ranker.scores(ctx), 10)
    for user, row in zip(users, top, strict=True):
        assert recs.loc[recs["user_id"] == user, "item_id"].tolist() == [vocab[i - 1] for i in row]

    # Scoring writes the rows with those labels.
    n = scoring.score_recommendations(D, "run-1")
    served = read_frame("SELECT model_version FROM serving.recommendations")
    assert n == len(served) and (served["model_version"] == result.version).all()


def test_a_model_that_wins_is_served_as_the_model(isolated_home) -> None:
    _load_events(6)
    result = recommender.train(D, "train-1", SMALL)
    art = load_artefact(registry.champion("recommender").artefact_uri)
    assert art.preprocessing["strategy"] == "model" and art.serving_strategy == registry.LEARNED
    assert result.metrics["hr_at_10"] > max(b["hr_at_10"] for b in result.baseline_metrics.values())
    assert np.isfinite(list(art.preprocessing["fusion"].values())).all()
    recs, _ = scoring.build_recommendations(D)
    assert set(recs["strategy"]) == {"model"}
    assert set(recs["model_version"]) == {result.version}
    # The champion re-evaluated on the same holdout (its own policy rebuilt) scores the same.
    again = recommender.train(D, "train-2", SMALL)
    assert again.champion_metrics is not None
    assert abs(again.champion_metrics["hr_at_10"] - result.metrics["hr_at_10"]) < 1e-9
