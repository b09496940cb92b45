"""Session intent: leakage-free sequences, intent rule, sequence model vs LR/GBT on a
planted order-only signal, aggregates path, thresholds from validation, round trip, recipe."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import torch

from tasks.train import registry
from tasks.train import session_intent as si
from tasks.train.common import Artefact, DataWindow, as_of_instant, load_artefact, save_artefact
from tasks.train.tabular import time_split
from tasks.warehouse import replace_partition
from tests.fixtures import synthetic_frames

D = date(2024, 3, 1)
CPU = torch.device("cpu")
# The order-only frame ends every session (buyer or not) with a view, so the full pre-purchase
# sequence has no label-dependent cut; random prefixes would only hide the planted order.
FAST = si.SessionIntentConfig(epochs=20, members=1, random_prefix=False)


def _events(rows: list[tuple[str, str, str | None, float | None, int]]) -> pd.DataFrame:
    t0 = datetime(2024, 2, 1, 12)
    return pd.DataFrame([{"event_id": f"e{i}", "session_id": s, "event_type": k, "product_id": p, "price": pr,
                          "event_at": t0 + timedelta(seconds=sec)} for i, (s, k, p, pr, sec) in enumerate(rows)])


def test_sequences_stop_strictly_before_the_first_purchase() -> None:
    """The prediction point: nothing at or after the first purchase instant reaches the model."""
    ev = _events([("a", "view", "p1", 10.0, 0), ("a", "cart", "p1", 10.0, 30),
                  ("a", "purchase", "p1", 10.0, 60), ("a", "cart", "p2", 5.0, 60),  # same instant as purchase
                  ("a", "view", "p3", 7.0, 90),
                  ("b", "view", "p1", None, 0), ("b", "view", "p1", 10.0, 100)])
    types, nums = si.build_sequences(ev, ["a", "b", "none"], seq_len=4)
    assert types.tolist() == [[0, 0, 1, 2], [0, 0, 1, 1], [0, 0, 0, 0]]
    # b: gap log1p(100), price missing on its first view, repeat product on the second.
    np.testing.assert_allclose(nums[1, 3], [np.log1p(100), np.log1p(10), 0, 1, np.log1p(100)], rtol=1e-6)
    assert nums[1, 2, 2] == 1.0
    # Adding (or removing) the purchase and later events changes nothing in a's inputs.
    before = ev[(ev["session_id"] == "a") & (ev["event_at"] < datetime(2024, 2, 1, 12, 1))]
    t2, n2 = si.build_sequences(before, ["a"], seq_len=4)
    np.testing.assert_array_equal(t2[0], types[0])
    np.testing.assert_array_equal(n2[0], nums[0])


def test_random_prefix_is_seeded_label_independent_and_pre_purchase() -> None:
    """Every buyer's full pre-purchase input ends with its cart; a random prefix must not."""
    rows = []
    for i in range(300):
        kinds = ["view", "view", "view", "cart"] + (["purchase"] if i % 2 else ["view", "view"])
        rows += [(f"s{i:03d}", k, f"p{j}", 1.0, 10 * j) for j, k in enumerate(kinds)]
    ev = _events(rows)
    a, b = si.random_prefix(ev, seed=1), si.random_prefix(ev, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert not si.random_prefix(ev, seed=2).equals(a)
    assert (a["event_type"] != "purchase").all()
    assert a.groupby("session_id").size().min() >= 1
    last = a.groupby("session_id")["event_type"].last()
    buyer = last.index.str[1:].astype(int) % 2 == 1
    assert (last[buyer] == "cart").mean() < 0.5  # was 1.0 before the random cut
    agg = si.prefix_aggregates(pd.DataFrame({"session_id": ["s001"], "n_events": [99], "n_carts": [9]}), a)
    assert agg["n_events"].item() == (a["session_id"] == "s001").sum()


def test_sequences_keep_the_latest_events() -> None:
    ev = _events([("a", k, f"p{i}", 1.0, i) for i, k in enumerate(["search", "view", "cart", "view"])])
    types, _ = si.build_sequences(ev, ["a"], seq_len=2)
    assert types.tolist() == [[2, 1]]


def test_intent_rule() -> None:
    intents = si.classify_intent(np.array([0.9, 0.2, 0.2, 0.5, 0.2]), np.array([1, 3, 2, None, 5]),
                                 buy_threshold=0.5, compare_min_products=3,
                                 n_distinct_categories=np.array([1, 1, 1, 1, 4]), compare_max_categories=2)
    assert intents.tolist() == ["buy", "compare", "browse", "buy", "browse"]


def test_sequence_model_beats_lr_and_gbt_on_order_signal() -> None:
    """Counts are identical for buyers and non-buyers; only the event order carries the signal."""
    frame, events = synthetic_frames.session_events(D, n=1000, seed=0)
    fitted = si.fit_and_evaluate(frame, FAST, CPU, events)
    assert fitted.kind == "sequence"
    assert set(fitted.baselines) == {"logistic_regression", "gbt"}
    for name, base in fitted.baselines.items():
        assert set(base) == set(fitted.metrics)
        assert base["n_holdout"] == fitted.metrics["n_holdout"] == 200, name
        assert fitted.metrics["pr_auc"] > base["pr_auc"] + 0.1, name
    # The holdout is the latest 20 % by start time, after the validation slice.
    assert fitted.holdout["session_start_at"].min() == frame["session_start_at"].sort_values().iloc[-200]


def test_threshold_is_chosen_on_validation_not_holdout() -> None:
    frame, events = synthetic_frames.session_events(D, n=1000, seed=0)
    fitted = si.fit_and_evaluate(frame, FAST, CPU, events)
    train_df, val_df, hold_df = time_split(si.labelled(frame), "session_start_at", "session_id", 0.2, 0.2)
    x_val = si.model_inputs("sequence", fitted.spec, val_df, events, FAST)
    from tasks.train.metrics import best_f1_threshold
    from tasks.train.tabular import predict_logits
    p_val = 1 / (1 + np.exp(-predict_logits(fitted.model, CPU, **x_val)))
    assert fitted.threshold == pytest.approx(best_f1_threshold(val_df["has_purchase"].to_numpy(), p_val))
    assert fitted.metrics["threshold"] == fitted.threshold


def test_aggregates_path_on_summaries() -> None:
    """Session-summary sources (Online Shoppers shape): buyers sit in a mid page-value band
    and stay long (an interaction); months only, like the real data set."""
    rng = np.random.default_rng(0)
    n = 1500
    page_value = np.where(rng.random(n) < 0.5, rng.lognormal(2, 1, n), 0.0)
    duration = rng.exponential(300, n)
    buy = rng.random(n) < np.where((page_value > 4) & (page_value < 20) & (duration > 150), 0.7, 0.04)
    frame = si.prepare_summaries(pd.DataFrame({
        "session_id": [f"s{i:05d}" for i in range(n)], "user_id": None,
        "started_at": pd.to_datetime([f"2017-{m:02d}-01" for m in np.sort(rng.integers(1, 11, n))]),
        "n_events": rng.poisson(10, n) + 1, "n_product_views": rng.poisson(8, n),
        "duration_seconds": duration, "bounce_rate": rng.uniform(0, 0.2, n),
        "exit_rate": rng.uniform(0, 0.2, n), "page_value": page_value,
        "visitor_type": rng.choice(["New_Visitor", "Returning_Visitor"], n), "is_weekend": rng.random(n) < 0.3,
        "device": "os1-browser1", "region": "1", "has_purchase": buy}))
    fitted = si.fit_and_evaluate(frame, si.SessionIntentConfig(epochs=10, members=2), CPU)
    assert fitted.kind == "summaries"
    # Month-only time stamps: the holdout is whole months that training never saw.
    assert fitted.holdout["session_start_at"].min() == pd.Timestamp("2017-09-01")
    # Planted signal found (base rate ~0.2). Against LR/GBT the aggregates MLP is judged on
    # real data (UCI Online Shoppers, docs in the recipe): on ~900 training rows it is not reliably ahead.
    assert fitted.metrics["pr_auc"] > 0.45
    assert set(fitted.baselines["gbt"]) == set(fitted.metrics)


def test_training_is_deterministic_by_seed() -> None:
    frame, events = synthetic_frames.session_events(D, n=400, seed=1)
    cfg = si.SessionIntentConfig(epochs=3, members=1, min_rows=100)  # random_prefix on: seeded too
    a, b = si.fit_and_evaluate(frame, cfg, CPU, events), si.fit_and_evaluate(frame, cfg, CPU, events)
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())
    assert a.metrics == b.metrics


def test_single_class_holdout_is_refused() -> None:
    frame = synthetic_frames.session_features(D, n=300, seed=1).assign(has_purchase=False)
    with pytest.raises(ValueError, match="single class"):
        si.fit_and_evaluate(frame, FAST, CPU)


def test_artefact_round_trip_identical_predictions(isolated_home) -> None:
    frame, events = synthetic_frames.session_events(D, n=400, seed=2)
    cfg = si.SessionIntentConfig(epochs=3, members=1)
    fitted = si.fit_and_evaluate(frame, cfg, CPU, events)
    art = Artefact(model="session_intent", version="si-test", config=cfg.to_dict(),
                   window=DataWindow(as_of_instant(D) - timedelta(days=28), as_of_instant(D)),
                   state_dict=fitted.model.state_dict(), preprocessing=fitted.preprocessing())
    loaded = load_artefact(save_artefact(art))
    assert loaded.preprocessing["kind"] == "sequence"
    out = si.predict(loaded, fitted.holdout, CPU, events)
    direct = si.predict(art, fitted.holdout, CPU, events)
    pd.testing.assert_frame_equal(out, direct)
    assert set(out["intent"]) <= set(si.INTENTS)
    assert (out["threshold"] == fitted.threshold).all()
    assert ((out["intent"] == "buy") == (out["p_purchase"] >= fitted.threshold)).all()


def test_train_recipe_from_warehouse(isolated_home) -> None:
    frame, events = synthetic_frames.session_events(D, n=600, seed=3)
    replace_partition(si.FEATURE_TABLE, frame, {"as_of_date": D, "as_of_hour": None},
                      column_types={"as_of_hour": "TIMESTAMP"})
    replace_partition(si.EVENTS_TABLE, events, {})
    cfg = si.SessionIntentConfig(epochs=5, members=1)
    result = si.train(D + timedelta(days=2), "run-1", cfg)  # uses the newest partition <= as_of_date
    assert result.status == "champion"
    assert result.window.end == as_of_instant(D)
    # The served version is compared with every other candidate: the two baselines, or (when a
    # baseline won) the other baseline and the learned model.
    assert set(result.baseline_metrics) in ({"logistic_regression", "gbt"},
                                            {"logistic_regression", "learned:session_intent"},
                                            {"gbt", "learned:session_intent"})
    champ = registry.champion("session_intent")
    assert champ.metrics["pr_auc"] == pytest.approx(result.metrics["pr_auc"])
    assert si.train(D - timedelta(days=1), "run-2", cfg).status == "skipped"  # nothing at/before then


def test_labelled_drops_unlabelled_rows() -> None:
    frame = pd.DataFrame({"has_purchase": [True, None, False]})
    assert len(si.labelled(frame)) == 2


def test_shop_event_signals_are_aggregated_per_session_before_the_purchase() -> None:
    """A signal the shop declared on events (mapping `features:`) reaches the model and the
    baselines as per-session aggregates of the *pre-purchase* events only: a signal planted on
    the purchase event itself must not leak into the features, one on earlier events must help."""
    import json

    frame, events = synthetic_frames.session_events(D, n=1000, seed=0)
    buyers = set(frame.loc[frame["has_purchase"].astype(bool), "session_id"])
    rng = np.random.default_rng(3)
    is_buyer = events["session_id"].isin(buyers).to_numpy()
    is_purchase = (events["event_type"] == "purchase").to_numpy()
    # "traffic": categorical, tells buyers apart on every event; "leak": 1 only on the purchase event.
    traffic = np.where(is_buyer & (rng.random(len(events)) < 0.8), "email", rng.choice(["ads", "seo"], len(events)))
    events = events.assign(extra_features=[json.dumps({"traffic": str(t), "leak": float(p), "score": float(s)})
                                           for t, p, s in zip(traffic, is_purchase, rng.normal(0, 1, len(events)),
                                                              strict=True)])
    cfg = si.SessionIntentConfig(epochs=8)
    fitted = si.fit_and_evaluate(frame, cfg, CPU, events)
    names = fitted.spec.feature_names
    assert "sig_traffic=email" in names and "sig_score" in names
    # "leak" is 0 on every pre-purchase event: constant, so not a feature at all.
    assert not any(n.startswith("sig_leak") for n in names)
    plain = si.fit_and_evaluate(frame, cfg, CPU, events.drop(columns=["extra_features"]))
    assert fitted.baselines["gbt"]["pr_auc"] > plain.baselines["gbt"]["pr_auc"] + 0.05
    # Scoring: the stored spec rebuilds the same signal columns; sessions whose events carry
    # no signals (or no events at all) still score.
    art = Artefact(model="session_intent", version="si-test", config=cfg.to_dict(),
                   window=DataWindow(as_of_instant(D) - timedelta(days=28), as_of_instant(D)),
                   state_dict=fitted.model.state_dict(), preprocessing=fitted.preprocessing())
    out = si.predict(art, fitted.holdout, CPU, events)
    bare = si.predict(art, fitted.holdout, CPU, events.drop(columns=["extra_features"]))
    assert len(out) == len(bare) == len(fitted.holdout)
    assert out["p_purchase"].between(0, 1).all() and bare["p_purchase"].between(0, 1).all()
    assert not np.allclose(out["p_purchase"], bare["p_purchase"])
