"""Recommender: data prep on hand-built frames, the causal model, beating every baseline
on a planted sequence signal, determinism, artefact round trip, and the warehouse
recipe end to end."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import torch

from tasks.train import recommender as rec
from tasks.train import registry
from tasks.train.common import Artefact, DataWindow, load_artefact, save_artefact
from tasks.warehouse import replace_partition
from tests.fixtures import synthetic_frames

AS_OF = datetime(2024, 3, 1)
CPU = torch.device("cpu")
# Small enough for a unit test (~3 s), big enough to learn the planted successor chain.
SMALL = rec.RecommenderConfig(epochs=15, embedding_dim=32, max_history=10, dropout=0.1, lr=5e-3)


def _events(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """(user, product, event type, hours before AS_OF)."""
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


def test_anonymous_interactions_are_nobody_s_history() -> None:
    """Guest rows (no user id) used to become one user named 'nan' whose history mixed every
    guest's browsing; they are dropped instead."""
    events = _events([("u1", "a", "view", 5), (None, "b", "view", 4), (None, "c", "cart", 3)])
    lines = pd.DataFrame({"user_id": [None], "product_id": ["d"], "ordered_at": [AS_OF - timedelta(hours=2)]})
    inter = rec.interactions_from_frames(events, pd.DataFrame(), SMALL)
    assert inter[["user_id", "item_id"]].values.tolist() == [["u1", "a"]]
    assert rec.interactions_from_frames(events.iloc[0:0], lines, SMALL).empty


def test_queries_see_only_history_before_the_day_by_hand() -> None:
    # u1: a (3 days ago), b (2 days ago, cart), then c and z (unknown) on the last day.
    inter = rec.interactions_from_frames(_events([
        ("u1", "a", "view", 70), ("u1", "b", "cart", 46), ("u1", "c", "view", 10), ("u1", "z", "view", 5),
        ("u2", "c", "view", 3)]), pd.DataFrame(), SMALL)
    q = rec.build_queries(inter, ["a", "b", "c"], 3, AS_OF - timedelta(days=1), AS_OF)
    assert q.users == ["u1", "u2"]
    assert q.ctx.items.tolist() == [[0, 1, 2], [0, 0, 0]]  # c (same day) is not context; u2 is cold
    assert q.ctx.weights[0].tolist() == [0.0, 1.0, 3.0]
    assert q.ctx.ages[0, 1:].tolist() == pytest.approx([(70 - 24) / 24, (46 - 24) / 24])
    assert q.targets.tolist() == [3, -1, 3]  # c, z (unknown), c
    assert q.target_query.tolist() == [0, 0, 1]
    sampled = rec.build_queries(inter, ["a", "b", "c"], 3, AS_OF - timedelta(days=1), AS_OF, max_targets=2)
    assert len(sampled) == 2


def test_train_chunks_target_the_next_active_day_by_hand() -> None:
    day = 24.0
    inter = rec.interactions_from_frames(_events([
        ("u1", "a", "view", 3 * day + 2), ("u1", "b", "view", 3 * day + 1),  # day 1: a, b
        ("u1", "c", "cart", 2 * day), ("u1", "d", "view", 2 * day - 1),      # day 2: c, d
        ("u1", "a", "view", day)]), pd.DataFrame(), SMALL)                    # day 3: a
    chunks = rec.build_train_chunks(inter, ["a", "b", "c", "d"], 4)
    # Two windows from the end: [b c d a] and [pad pad pad a].
    assert chunks.items.tolist() == [[2, 3, 4, 1], [0, 0, 0, 1]]
    # Day 1's last item (b) -> day 2's first (c), a -> d; day 2 -> a; the last day has no target.
    assert chunks.targets.tolist() == [[3, 1, 1, 0], [0, 0, 0, 4]]
    assert chunks.weights[0].tolist() == [3.0, 1.0, 1.0, 0.0]
    # Next-item targets ignore days: a -> b -> c -> d -> a, the last item has none.
    assert chunks.next_items.tolist() == [[3, 4, 1, 0], [0, 0, 0, 2]]
    assert chunks.n_positions == 4  # positions with either target; the last item has neither


def test_training_budget_trades_epochs_for_fresh_data() -> None:
    chunks = rec.TrainChunks(np.ones((10, 2), dtype=np.int64), np.ones((10, 2), dtype=np.int64),
                             np.ones((10, 2), dtype=np.float32))  # 20 positions

    def budget(cap: int, epochs: int) -> tuple[int, int]:
        rows, n_epochs = rec.training_budget(chunks, rec.RecommenderConfig(max_train_examples=cap, epochs=epochs))
        assert len(set(rows.tolist())) == len(rows)
        return len(rows), n_epochs

    assert budget(100, 5) == (10, 5)  # fits: every chunk, every epoch
    assert budget(50, 5) == (10, 2)  # fewer passes over everything
    assert budget(10, 5) == (5, 1)  # one pass over a sample
    # The sampled softmax has its own (larger) cap: the same data trains every chunk.
    cfg = rec.RecommenderConfig(max_train_examples=10, max_train_examples_sampled=40, epochs=5)
    rows, n_epochs = rec.training_budget(chunks, cfg, sampled=True)
    assert (len(rows), n_epochs) == (10, 2)
    assert len(rec.training_budget(chunks, cfg, sampled=False)[0]) == 5


def test_sampled_softmax_switches_on_by_catalogue_or_by_cost() -> None:
    cfg = rec.RecommenderConfig(full_softmax_items=100, sampled_softmax_logits=1e6)
    assert not rec.uses_sampled_softmax(cfg, 100, 10_000)  # 1e6 logits: still affordable
    assert rec.uses_sampled_softmax(cfg, 100, 10_001)  # a pass costs more than the limit
    assert rec.uses_sampled_softmax(cfg, 101, 0)  # the catalogue alone is too large
    # The defaults: synthetic M's pass (2.36M positions x 5k items) samples, UCI-sized data do not.
    default = rec.RecommenderConfig()
    assert rec.uses_sampled_softmax(default, 5_000, 2_360_000)
    assert not rec.uses_sampled_softmax(default, 3_700, 500_000)


def test_item_side_features_by_hand() -> None:
    products = pd.DataFrame({"product_id": ["a", "b", "c"], "category": ["mug", "lamp", "mug"],
                             "list_price": [1.0, 100.0, None], "title": ["Red MUG", "Lamp", "mug"],
                             "description": ["a red mug", None, None]})
    cfg = rec.RecommenderConfig(n_price_bands=2, max_tokens=3)
    side = rec.item_side_features(["a", "b", "c", "x"], products, cfg)
    assert side.n_categories == 2
    assert side.category.tolist() == [0, 2, 1, 2, 0]  # lamp=1, mug=2; 'x' unknown
    assert side.price_band.tolist() == [0, 1, 2, 0, 0]
    assert side.tokens[1, 1] == side.tokens[3, 0] != 0  # "mug" hashes to the same id in a and c
    assert side.tokens[1].tolist().count(0) == 1  # red, mug (deduplicated); 'a' is too short
    assert not side.tokens[4].any()
    empty = rec.item_side_features(["a"], pd.DataFrame(), cfg)
    assert empty.n_categories == 0
    assert not empty.tokens.any()


def test_model_is_causal_and_never_scores_padding() -> None:
    torch.manual_seed(0)
    model = rec.SASRec(6, 0, rec.RecommenderConfig(max_history=4, embedding_dim=8, dropout=0.0)).eval()
    seq = torch.tensor([[0, 1, 2, 3]])
    later = torch.tensor([[0, 1, 2, 5]])
    with torch.no_grad():
        h1, h2 = model.hidden(seq), model.hidden(later)
        assert torch.allclose(h1[:, :3], h2[:, :3])  # changing the last item cannot change earlier states
        assert not torch.allclose(h1[:, 3], h2[:, 3])
        logits = model(seq)
        bonus = model.repeat_bonus(seq, h1, torch.ones(1, 4, dtype=torch.bool), 7)  # one row per position
        gate = torch.nn.functional.softplus(model.repeat_gate(h1[0, 3]))
    assert logits.shape == (1, 7)
    assert torch.isneginf(logits[0, 0])
    assert bonus.shape == (4, 7)
    assert bonus[3, [1, 2, 3]].gt(0).all()
    assert float(bonus[3, 1]) == pytest.approx(float(torch.nn.functional.softplus(model.repeat_steps[2].detach()) * gate))
    assert bonus[1, 2] == 0  # position 1 has not seen item 2 yet
    assert bonus[:, [4, 5, 6]].eq(0).all()


def test_beats_every_baseline_on_planted_sequences() -> None:
    # The next item is usually the successor of the last one (a directed chain) and
    # popularity is flat: co-occurrence kNN sees predecessor and successor alike,
    # the causal model learns the direction.
    events = synthetic_frames.fct_events(AS_OF, seed=1)
    inter = rec.interactions_from_frames(events, pd.DataFrame(), SMALL)
    fitted = rec.fit_and_evaluate(inter, AS_OF - timedelta(days=7), AS_OF, SMALL, CPU)
    assert set(fitted.baselines) == set(rec.BASELINES)
    assert fitted.loss_history[-1] < fitted.loss_history[0]
    for name, base in fitted.baselines.items():
        assert set(base) == set(fitted.metrics), name
        assert base["n_targets"] == fitted.metrics["n_targets"] > 500
        assert fitted.metrics["hr_at_10"] > base["hr_at_10"] + 0.05, name
        assert fitted.metrics["ndcg_at_10"] > base["ndcg_at_10"], name
        assert fitted.metrics["mrr_at_20"] > base["mrr_at_20"], name


def test_training_is_deterministic_by_seed() -> None:
    events = synthetic_frames.fct_events(AS_OF, n_users=40, seed=2)
    cfg = rec.RecommenderConfig(**{**SMALL.to_dict(), "epochs": 3})
    inter = rec.interactions_from_frames(events, pd.DataFrame(), cfg)
    split = AS_OF - timedelta(days=7)
    a = rec.fit_and_evaluate(inter, split, AS_OF, cfg, CPU)
    b = rec.fit_and_evaluate(inter, split, AS_OF, cfg, CPU)
    c = rec.fit_and_evaluate(inter, split, AS_OF, rec.RecommenderConfig(**{**cfg.to_dict(), "seed": 3}), CPU)
    assert all(torch.equal(a.model.state_dict()[k], b.model.state_dict()[k]) for k in a.model.state_dict())
    assert a.metrics == b.metrics
    assert not torch.equal(a.model.ids.weight, c.model.ids.weight)


def test_artefact_round_trip_gives_identical_recommendations(isolated_home) -> None:
    events = synthetic_frames.fct_events(AS_OF, n_users=40, seed=3)
    cfg = rec.RecommenderConfig(**{**SMALL.to_dict(), "epochs": 3})
    inter = rec.interactions_from_frames(events, pd.DataFrame(), cfg)
    products = pd.DataFrame({"product_id": [f"p{i:03d}" for i in range(40)], "category": ["c1", "c2"] * 20,
                             "list_price": np.linspace(1, 50, 40), "title": ["blue mug"] * 40})
    fitted = rec.fit_and_evaluate(inter, AS_OF - timedelta(days=7), AS_OF, cfg, CPU, products)
    art = Artefact(model="recommender", version="recommender-test", config=cfg.to_dict(),
                   window=DataWindow(AS_OF - timedelta(days=30), AS_OF), state_dict=fitted.model.state_dict(),
                   preprocessing={"vocab": fitted.vocab, **fitted.side.to_dict()})
    model, vocab, loaded_cfg = rec.load_model(load_artefact(save_artefact(art)), CPU)
    assert torch.equal(model.item_category, torch.as_tensor(fitted.side.category))
    users = sorted(inter["user_id"].unique()) + ["new-user"]
    pop = rec.popularity(inter, AS_OF - timedelta(days=30), AS_OF)
    before = rec.recommend(fitted.model, fitted.vocab, cfg, inter, users, AS_OF, {"popularity": pop}, CPU, 10)
    after = rec.recommend(model, vocab, loaded_cfg, inter, users, AS_OF, {"popularity": pop}, CPU, 10)
    pd.testing.assert_frame_equal(before, after)
    assert len(after) == 10 * len(users)
    new = after[after["user_id"] == "new-user"]
    assert (new["strategy"] == "popularity").all()
    assert new["item_id"].tolist() == pop.index[:10].tolist()
    assert (after.loc[after["user_id"] != "new-user", "strategy"] == "model").all()
    assert np.all(np.diff(after[after["user_id"] == users[0]]["score"]) <= 0)


def test_segment_fallback_and_excluding_seen_items() -> None:
    events = synthetic_frames.fct_events(AS_OF, n_users=20, seed=4)
    cfg = rec.RecommenderConfig(**{**SMALL.to_dict(), "epochs": 1, "exclude_seen": True})
    inter = rec.interactions_from_frames(events, pd.DataFrame(), cfg)
    vocab = sorted(inter["item_id"].unique())
    model = rec.SASRec(len(vocab), 0, cfg).eval()
    seg = pd.Series({"p001": 5.0, "p002": 1.0})
    lists = {"popularity": rec.popularity(inter, AS_OF - timedelta(days=30), AS_OF), "segment_popularity:7": seg}
    users = ["u000", "cold-a", "cold-b"]
    out = rec.recommend(model, vocab, cfg, inter, users, AS_OF, lists, CPU, 10,
                        {"cold-a": "segment_popularity:7", "cold-b": "segment_popularity:missing"})
    a = out[out["user_id"] == "cold-a"]
    assert a["item_id"].tolist() == ["p001", "p002"]
    assert set(a["strategy"]) == {"segment_popularity:7"}
    assert a["score"].tolist() == pytest.approx([5 / 6, 1 / 6])
    assert set(out.loc[out["user_id"] == "cold-b", "strategy"]) == {"popularity"}
    seen = set(inter.loc[inter["user_id"] == "u000", "item_id"].tail(cfg.max_history))
    assert not seen & set(out.loc[out["user_id"] == "u000", "item_id"])


def test_train_recipe_registers_champion_from_warehouse(isolated_home) -> None:
    events = synthetic_frames.fct_events(AS_OF, seed=4)
    events["event_date"] = events["event_at"].dt.date
    replace_partition("marts.fct_events", events, {})
    result = rec.train(AS_OF.date(), "run-a", SMALL)
    assert result.status == "champion"
    assert result.version.startswith("recommender-2024-03-01-")
    assert set(result.baseline_metrics) == set(rec.BASELINES)
    best = max(b["hr_at_10"] for b in result.baseline_metrics.values())
    assert result.metrics["hr_at_10"] > best
    champ = registry.champion("recommender")
    assert champ is not None
    assert champ.version == result.version
    assert champ.data_end == AS_OF
    assert champ.data_start == AS_OF - timedelta(days=SMALL.lookback_days)
    assert set(champ.baseline_metrics) == set(result.baseline_metrics)
    # Same config + window: same version, re-registered as the champion, still one row; the
    # champion is re-scored on the same holdout and gets the same number.
    again = rec.train(AS_OF.date(), "run-b", SMALL)
    assert again.version == result.version
    assert len(registry.entries("recommender")) == 1
    assert again.champion_metrics == {"hr_at_10": pytest.approx(result.metrics["hr_at_10"])}


def test_train_skips_without_data(isolated_home) -> None:
    result = rec.train(date(2024, 3, 1), "run-a", SMALL)
    assert result.status == "skipped"
    assert registry.champion("recommender") is None
