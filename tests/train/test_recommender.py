"""Recommender: data prep on hand-built frames, learning a planted sequence signal,
determinism, artefact round trip, and the warehouse recipe end to end."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import torch

from tasks.train import recommender as rec
from tasks.train import registry, synthetic_frames
from tasks.train.common import Artefact, DataWindow, load_artefact, save_artefact
from tasks.warehouse import replace_partition

AS_OF = datetime(2024, 3, 1)
CPU = torch.device("cpu")
SMALL = rec.RecommenderConfig(epochs=8, embedding_dim=16, max_history=5)


def _events(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame([{"user_id": u, "product_id": p, "event_type": t,
                          "event_at": AS_OF - timedelta(hours=h)} for u, p, t, h in rows])


def test_interactions_collapse_repeats_and_do_not_double_count_purchases() -> None:
    events = _events([("u1", "a", "view", 5), ("u1", "a", "cart", 4), ("u1", "b", "view", 3),
                      ("u1", "a", "purchase", 2)])
    lines = pd.DataFrame({"user_id": ["u1"], "product_id": ["a"], "ordered_at": [AS_OF - timedelta(hours=2)]})
    inter = rec.interactions_from_frames(events, lines, SMALL)
    # view+cart of 'a' collapse (max weight 3); the order line is ignored because purchase events exist.
    assert inter[["item_id", "weight"]].values.tolist() == [["a", 3.0], ["b", 1.0], ["a", 5.0]]
    only_lines = rec.interactions_from_frames(events.iloc[0:0], lines, SMALL)
    assert only_lines[["item_id", "weight"]].values.tolist() == [["a", 5.0]]


def test_build_examples_contexts_by_hand() -> None:
    cfg = rec.RecommenderConfig(max_history=3, recency_decay=0.5)
    inter = rec.interactions_from_frames(
        _events([("u1", "a", "view", 4), ("u1", "b", "cart", 3), ("u1", "c", "view", 2), ("u1", "z", "view", 1)]),
        pd.DataFrame(), cfg)
    index = {"a": 1, "b": 2, "c": 3}
    train = rec.build_examples(inter, index, cfg, training=True)
    assert train.targets.tolist() == [2, 3]  # 'z' is unknown, 'a' has no context
    assert train.ctx_items.tolist() == [[0, 0, 1], [0, 1, 2]]
    assert train.ctx_weights[1].tolist() == pytest.approx([0.0, 0.5, 3.0])  # view decayed once, cart fresh
    ev = rec.build_examples(inter, index, cfg, targets_from=AS_OF - timedelta(hours=2), training=False)
    assert ev.targets.tolist() == [3, -1]
    assert ev.target_items == ["c", "z"]


def test_popularity_ranks_by_hand() -> None:
    pop = pd.Series({"x": 9.0, "y": 5.0, "z": 1.0})
    assert rec.popularity_ranks(["y", "q", "x"], pop) == [2, None, 1]


def test_beats_popularity_on_planted_sequences() -> None:
    events = synthetic_frames.fct_events(AS_OF, seed=1)
    inter = rec.interactions_from_frames(events, pd.DataFrame(), SMALL)
    fitted = rec.fit_and_evaluate(inter, AS_OF - timedelta(days=7), AS_OF, SMALL, CPU)
    assert fitted.metrics["n_targets"] == fitted.baseline_metrics["n_targets"] > 100
    assert fitted.loss_history[-1] < fitted.loss_history[0]
    assert fitted.metrics["hr_at_10"] > fitted.baseline_metrics["hr_at_10"] + 0.2
    assert fitted.metrics["ndcg_at_10"] > fitted.baseline_metrics["ndcg_at_10"]


def test_training_is_deterministic_by_seed() -> None:
    events = synthetic_frames.fct_events(AS_OF, n_users=40, seed=2)
    inter = rec.interactions_from_frames(events, pd.DataFrame(), SMALL)
    split = AS_OF - timedelta(days=7)
    a = rec.fit_and_evaluate(inter, split, AS_OF, SMALL, CPU)
    b = rec.fit_and_evaluate(inter, split, AS_OF, SMALL, CPU)
    c = rec.fit_and_evaluate(inter, split, AS_OF, rec.RecommenderConfig(**{**SMALL.to_dict(), "seed": 3}), CPU)
    assert all(torch.equal(a.model.state_dict()[k], b.model.state_dict()[k]) for k in a.model.state_dict())
    assert a.metrics == b.metrics
    assert not torch.equal(a.model.items.weight, c.model.items.weight)


def test_artefact_round_trip_gives_identical_recommendations(isolated_home) -> None:
    events = synthetic_frames.fct_events(AS_OF, n_users=40, seed=3)
    inter = rec.interactions_from_frames(events, pd.DataFrame(), SMALL)
    fitted = rec.fit_and_evaluate(inter, AS_OF - timedelta(days=7), AS_OF, SMALL, CPU)
    art = Artefact(model="recommender", version="recommender-test", config=SMALL.to_dict(),
                   window=DataWindow(AS_OF - timedelta(days=30), AS_OF), state_dict=fitted.model.state_dict(),
                   preprocessing={"vocab": fitted.vocab})
    model, vocab, cfg = rec.load_model(load_artefact(save_artefact(art)), CPU)
    users = sorted(inter["user_id"].unique()) + ["new-user"]
    pop = rec.popularity(inter, AS_OF - timedelta(days=30), AS_OF)
    before = rec.recommend(fitted.model, fitted.vocab, SMALL, inter, users, pop, CPU, 10)
    after = rec.recommend(model, vocab, cfg, inter, users, pop, CPU, 10)
    pd.testing.assert_frame_equal(before, after)
    assert len(after) == 10 * len(users)
    new = after[after["user_id"] == "new-user"]
    assert (new["source"] == "popularity").all()
    assert new["item_id"].tolist() == pop.index[:10].tolist()
    assert np.all(np.diff(after[after["user_id"] == users[0]]["score"]) <= 0)


def test_train_recipe_registers_champion_from_warehouse(isolated_home) -> None:
    events = synthetic_frames.fct_events(AS_OF, seed=4)
    events["event_date"] = events["event_at"].dt.date
    replace_partition("marts.fct_events", events, {})
    result = rec.train(AS_OF.date(), "run-a", SMALL)
    assert result.status == "champion"
    assert result.version.startswith("recommender-2024-03-01-")
    assert result.metrics["hr_at_10"] > result.baseline_metrics["popularity"]["hr_at_10"]
    champ = registry.champion("recommender")
    assert champ is not None
    assert champ.version == result.version
    assert champ.data_end == AS_OF
    assert champ.data_start == AS_OF - timedelta(days=SMALL.lookback_days)
    # Same config + window: same version, re-registered as the champion, still one row.
    again = rec.train(AS_OF.date(), "run-b", SMALL)
    assert again.version == result.version
    assert len(registry.entries("recommender")) == 1
    assert again.champion_metrics == {"hr_at_10": pytest.approx(result.metrics["hr_at_10"])}


def test_train_skips_without_data(isolated_home) -> None:
    result = rec.train(date(2024, 3, 1), "run-a", SMALL)
    assert result.status == "skipped"
    assert registry.champion("recommender") is None
