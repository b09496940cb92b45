"""Realised metrics on planted outcomes whose answer the test knows, and the skips."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from tasks.monitoring.realised import RealisedConfig, compute_realised_metrics
from tasks.warehouse import read_frame, replace_partition
from tests.monitoring.planting import D, at, days, plant, plant_events, plant_recommendations

CFG = RealisedConfig(recommendation_window_days=7)
SERVED = D + timedelta(days=1) - timedelta(days=7)  # the lists whose 7-day window closes on D


def _metrics(model: str) -> dict[str, float]:
    rows = read_frame("SELECT metric, value FROM monitoring.realised_metrics WHERE dt = :d AND model = :m",
                      {"d": D, "m": model})
    return dict(zip(rows["metric"], rows["value"], strict=True))


def _plant_recommender_case() -> tuple[float, float]:
    """10 users, 10 items each; users u0..u2 buy a recommended item (at ranks 1, 3, 10), the
    other 7 buy only items nobody was shown; 5 more users were shown lists and bought nothing.
    Returns the expected HR@10 and NDCG@10, computed here by hand."""
    lists = {f"u{i}": [f"p{i}_{r}" for r in range(10)] for i in range(15)}
    plant_recommendations(SERVED, lists)
    hit_ranks = {"u0": 1, "u1": 3, "u2": 10}
    events = [(u, lists[u][r - 1], "purchase", at(SERVED + timedelta(days=2)), f"s{u}") for u, r in hit_ranks.items()]
    events += [(f"u{i}", "unshown", "purchase", at(SERVED + timedelta(days=3)), f"s{i}") for i in range(3, 10)]
    events += [("u3", lists["u3"][0], "purchase", at(SERVED - timedelta(days=1)), "old")]  # before the window
    events += [("u4", lists["u4"][0], "purchase", at(D + timedelta(days=1)), "late")]  # after it
    events += [("u5", lists["u5"][0], "view", at(SERVED + timedelta(days=1)), "v")]  # a view is no purchase
    events += [("x", "p0_0", "view", at(D, 23), "last")]  # the marts reach the window's last day
    plant_events(events)
    hr = 3 / 10
    ndcg = (1 / math.log2(2) + 1 / math.log2(4) + 1 / math.log2(11)) / 10
    return hr, ndcg


def test_recommendations_hit_rate_ndcg_coverage(isolated_home) -> None:  # noqa: ANN001
    hr, ndcg = _plant_recommender_case()
    plant("marts.dim_products", [{"product_id": f"p{i}"} for i in range(300)])
    result = compute_realised_metrics(D, CFG)["recommender"]
    assert result.skipped is None
    got = _metrics("recommender")
    assert got["hr@10"] == pytest.approx(hr)
    assert got["ndcg@10"] == pytest.approx(ndcg)
    assert got["coverage@10"] == pytest.approx(150 / 300)  # 15 disjoint lists of 10 over 300 products
    n = read_frame("SELECT n_rows FROM monitoring.realised_metrics WHERE metric = 'hr@10'")["n_rows"]
    assert list(n) == [10]


def test_recommendations_skip_while_the_window_is_open(isolated_home) -> None:  # noqa: ANN001
    _plant_recommender_case()
    day_before = D - timedelta(days=1)  # the window of SERVED closes on D, not before
    result = compute_realised_metrics(day_before, CFG)["recommender"]
    assert result.skipped and "no recommendations served" in result.skipped
    assert read_frame("SELECT COUNT(*) AS n FROM monitoring.realised_metrics")["n"].iloc[0] == 0


def test_recommendations_skip_when_truth_not_loaded(isolated_home) -> None:  # noqa: ANN001
    plant_recommendations(SERVED, {"u0": ["a", "b"]})
    plant_events([("u0", "a", "purchase", at(SERVED + timedelta(days=1)), "s")])  # marts end 5 days early
    result = compute_realised_metrics(D, CFG)["recommender"]
    assert result.skipped and "truth not loaded yet" in result.skipped
    assert _metrics("recommender") == {}


def test_session_intent_pr_auc_and_calibration(isolated_home) -> None:  # noqa: ANN001
    served_on = D - timedelta(days=1)
    rng = np.random.default_rng(3)
    n = 60
    y = rng.random(n) < 0.3
    p = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.2, n), 0.01, 0.99)
    scores = pd.DataFrame({"session_id": [f"s{i}" for i in range(n)], "user_id": "u", "p_purchase": p,
                           "intent": np.where(p >= 0.5, "buy", "browse"), "threshold": 0.5,
                           "as_of_date": served_on, "as_of_hour": [at(served_on, i % 24) for i in range(n)],
                           "model_version": "si-v1", "run_id": "t", "scored_at": at(served_on)})
    replace_partition("serving.session_intent", scores, {"as_of_date": served_on})
    events = [("u", "p", "view", at(served_on, 1), f"s{i}") for i in range(n)]
    events += [("u", "p", "purchase", at(D, 2), f"s{i}") for i in range(n) if y[i]]  # bought past midnight
    events += [("u", "p", "view", at(D, 23), "last")]
    plant_events(events)
    compute_realised_metrics(D, RealisedConfig())
    got = _metrics("session_intent")
    assert got["pr_auc"] == pytest.approx(average_precision_score(y.astype(int), p))
    assert got["brier"] == pytest.approx(float(np.mean((p - y) ** 2)))
    assert got["purchase_rate"] == pytest.approx(y.mean())
    buy = p >= 0.5
    assert got["buy_precision"] == pytest.approx((buy & y).sum() / buy.sum())
    assert got["buy_recall"] == pytest.approx((buy & y).sum() / y.sum())
    assert 0 <= got["ece"] <= 1


def test_forecasts_by_horizon(isolated_home) -> None:  # noqa: ANN001
    history = days(D - timedelta(days=70), 71)
    # item a sells 10 a day, item b 2 on even days; the day D: a sold 12, b sold 0 (no row).
    sales = [{"product_id": "a", "store_id": "all", "sales_date": d, "units": 12.0 if d == D else 10.0}
             for d in history]
    sales += [{"product_id": "b", "store_id": "all", "sales_date": d, "units": 2.0}
              for d in history if d.toordinal() % 2 == 0 and d != D]
    plant("marts.fct_daily_item_sales", sales)
    rows = []
    for lead, (fa, fb) in {1: (11.0, 1.0), 3: (8.0, 2.0)}.items():
        served_on = D - timedelta(days=lead)
        rows += [{"item_id": i, "forecast_date": D, "p10": f - 2, "p50": f, "p90": f + 2, "price_p50": 1.0,
                  "as_of_date": served_on, "model_version": "df-v1", "run_id": "t", "scored_at": at(served_on, 0)}
                 for i, f in (("a", fa), ("b", fb))]
        rows += [{"item_id": "a", "forecast_date": D + timedelta(days=1), "p10": 0.0, "p50": 1.0, "p90": 2.0,
                  "price_p50": 1.0, "as_of_date": served_on, "model_version": "df-v1", "run_id": "t",
                  "scored_at": at(served_on, 0)}]  # tomorrow: not known yet, not scored
    plant("serving.demand_forecasts", rows)
    compute_realised_metrics(D, RealisedConfig())
    got = read_frame("SELECT horizon_days, metric, value FROM monitoring.realised_metrics WHERE model = 'demand_forecaster'")
    by = {(int(h), m): v for h, m, v in got.itertuples(index=False)}
    assert by[(1, "wape")] == pytest.approx((abs(12 - 11) + abs(0 - 1)) / 12)
    assert by[(3, "wape")] == pytest.approx((abs(12 - 8) + abs(0 - 2)) / 12)
    assert by[(1, "interval_coverage_p10_p90")] == pytest.approx(1.0)  # 12 in [9,13], 0 in [-1,3]
    assert by[(3, "interval_coverage_p10_p90")] == pytest.approx(0.5)  # 12 not in [6,10], 0 in [0,4]
    # a's seasonal-naive in-sample error is 0 (flat series): only b is scaled; b alternates 2/0 with a
    # 7-day season, so |y_t - y_t-7| = 2 every day and MASE(b) = |0 - f| / 2.
    assert by[(1, "mase")] == pytest.approx(1.0 / 2)
    assert by[(3, "mase")] == pytest.approx(2.0 / 2)
    assert set(got["horizon_days"]) == {1, 3}


def test_risk_precision_recall_per_action_and_label_delay(isolated_home) -> None:  # noqa: ANN001
    served_on = D
    actions = ["none"] * 6 + ["warn"] * 2 + ["intercept"] * 2 + ["freeze_account"]
    fraud = [False] * 5 + [True] + [True, False] + [True, True] + [None]  # the last label has not arrived
    labels = pd.DataFrame({"transaction_id": [f"t{i}" for i in range(11)], "user_id": "u", "risk_score": 0.5,
                           "label": "x", "action": actions, "reasons": "", "as_of_date": served_on,
                           "as_of_hour": at(served_on, 3), "model_version": "rk-v1", "run_id": "t",
                           "scored_at": at(served_on, 4)})
    replace_partition("serving.risk_labels", labels, {"as_of_hour": at(served_on, 3)})
    plant("marts.fct_transactions", [{"transaction_id": f"t{i}", "is_fraud": f, "transaction_at": at(served_on)}
                                     for i, f in enumerate(fraud)])
    compute_realised_metrics(D, RealisedConfig())
    got = _metrics("risk")
    assert got["precision_warn"] == pytest.approx(1 / 2)
    assert got["recall_warn"] == pytest.approx(1 / 4)
    assert got["precision_intercept"] == pytest.approx(1.0)
    assert got["recall_intercept"] == pytest.approx(2 / 4)
    assert got["precision_flagged"] == pytest.approx(3 / 4)
    assert got["recall_flagged"] == pytest.approx(3 / 4)
    assert got["fraud_rate"] == pytest.approx(4 / 10)
    assert "precision_freeze_account" not in got  # its only payment has no label yet: undefined, not 0
    # labels arriving a day late: the payments of D are judged on D+1
    late = compute_realised_metrics(D, RealisedConfig(fraud_label_delay_days=1))["risk"]
    assert late.skipped and "no risk labels served on" in late.skipped
    assert _metrics("risk") == {}  # the re-run replaced the day's rows


def test_risk_skips_until_labels_arrive(isolated_home) -> None:  # noqa: ANN001
    labels = pd.DataFrame({"transaction_id": ["t0"], "user_id": "u", "risk_score": 0.5, "label": "x",
                           "action": "warn", "reasons": "", "as_of_date": D, "as_of_hour": at(D, 3),
                           "model_version": "rk-v1", "run_id": "t", "scored_at": at(D, 4)})
    replace_partition("serving.risk_labels", labels, {"as_of_hour": at(D, 3)})
    assert "does not exist (the source has no payments)" in compute_realised_metrics(D)["risk"].skipped
    plant("marts.fct_transactions", [{"transaction_id": "t0", "is_fraud": None, "transaction_at": at(D)}])
    assert "fraud labels not arrived" in compute_realised_metrics(D)["risk"].skipped
