"""Batch scoring end to end on a DuckDB warehouse: champion from the registry, one
partition written with the contract's columns, re-runs replace instead of duplicating."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from tasks.score.common import SERVING_SCHEMAS, NoChampionError, check_hour
from tasks.score.demand_forecasts import score_demand
from tasks.score.recommendations import score_recommendations
from tasks.score.risk_labels import score_risk
from tasks.score.session_intent import score_session_intent
from tasks.train import demand_forecaster as demand
from tasks.train import recommender, risk, session_intent
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures import synthetic_frames

D = date(2024, 3, 1)
AS_OF = datetime(2024, 3, 1)
HOUR = datetime(2024, 3, 1, 9)
HOURLY_TYPES = {"as_of_hour": "TIMESTAMP", "is_fraud": "BOOLEAN"}


def _serving(table: str, order: str) -> pd.DataFrame:
    return read_frame(f"SELECT * FROM {table} ORDER BY {order}")


def _assert_contract_columns(table: str, frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(SERVING_SCHEMAS[table])


def test_recommendations(isolated_home) -> None:
    events = synthetic_frames.fct_events(AS_OF, n_users=60, seed=5)
    fresh = events.iloc[[0]].assign(user_id="fresh", product_id="p-unknown", event_at=AS_OF - timedelta(hours=1))
    old = events.iloc[[0]].assign(user_id="gone", event_at=AS_OF - timedelta(days=120))
    replace_partition("marts.fct_events", pd.concat([events, fresh, old], ignore_index=True), {})
    with pytest.raises(NoChampionError, match="run ecomflow_daily first to train recommender"):
        score_recommendations(D, "run-1")
    result = recommender.train(D, "train-1", recommender.RecommenderConfig(epochs=5, embedding_dim=16))
    assert result.status == "champion"

    n = score_recommendations(D, "run-1")
    out = _serving("serving.recommendations", "user_id, rank")
    _assert_contract_columns("serving.recommendations", out)
    assert n == len(out) == 10 * 61  # 60 synthetic users + 'fresh'; 'gone' is inactive (> 90 days)
    assert set(out["as_of_date"]) == {D}
    assert set(out["run_id"]) == {"run-1"}
    assert set(out["scored_at"]) == {pd.Timestamp(AS_OF)}
    assert out.groupby("user_id")["rank"].apply(list).map(lambda r: r == list(range(1, 11))).all()
    assert set(out.loc[out["user_id"] == "fresh", "model_version"]) == {"popularity-v1"}
    assert set(out.loc[out["user_id"] != "fresh", "model_version"]) == {result.version}

    # Re-run: same partition replaced, byte-identical rows; another day's partition untouched.
    score_recommendations(D + timedelta(days=1), "run-2")
    assert score_recommendations(D, "run-1") == n
    again = read_frame("SELECT * FROM serving.recommendations WHERE as_of_date = :d ORDER BY user_id, rank",
                       {"d": D})
    pd.testing.assert_frame_equal(out, again)
    counts = read_frame("SELECT as_of_date, COUNT(*) AS n FROM serving.recommendations GROUP BY 1 ORDER BY 1")
    assert counts["n"].tolist()[0] == n
    assert len(counts) == 2


def test_demand_forecasts(isolated_home) -> None:
    replace_partition(demand.FEATURE_TABLE, synthetic_frames.daily_item_sales(D, n_products=6, seed=6),
                      {"as_of_date": D, "as_of_hour": None}, column_types=HOURLY_TYPES)
    with pytest.raises(NoChampionError, match="train demand_forecaster"):
        score_demand(D, "run-1")
    cfg = demand.DemandConfig(epochs=3, horizon_days=14)
    assert demand.train(D, "train-1", cfg).status == "champion"
    n = score_demand(D, "run-1")
    out = _serving("serving.demand_forecasts", "item_id, forecast_date")
    _assert_contract_columns("serving.demand_forecasts", out)
    assert n == len(out) == 6 * 14
    assert out["forecast_date"].min() == D
    assert out["forecast_date"].max() == D + timedelta(days=13)
    assert ((out["p10"] <= out["p50"]) & (out["p50"] <= out["p90"])).all()
    assert score_demand(D, "run-1") == n
    pd.testing.assert_frame_equal(out, _serving("serving.demand_forecasts", "item_id, forecast_date"))


def test_session_intent_hourly(isolated_home) -> None:
    replace_partition(session_intent.FEATURE_TABLE, synthetic_frames.session_features(D, n=600, seed=7),
                      {"as_of_date": D, "as_of_hour": None}, column_types=HOURLY_TYPES)
    assert session_intent.train(D, "train-1", session_intent.SessionIntentConfig(epochs=5)).status == "champion"
    for hour, n_rows in ((HOUR, 40), (HOUR + timedelta(hours=1), 7)):
        rows = synthetic_frames.session_features(D, n=n_rows, seed=hour.hour, as_of_hour=hour)
        replace_partition(session_intent.FEATURE_TABLE, rows, {"as_of_hour": hour}, column_types=HOURLY_TYPES)
    assert score_session_intent(HOUR + timedelta(hours=1), "run-0") == 7
    assert score_session_intent(HOUR, "run-1") == 40
    out = read_frame("SELECT * FROM serving.session_intent WHERE as_of_hour = :h ORDER BY session_id",
                     {"h": HOUR})
    _assert_contract_columns("serving.session_intent", out)
    assert len(out) == 40
    assert out["p_purchase"].between(0, 1).all()
    assert set(out["intent"]) <= {"browse", "compare", "buy"}
    assert set(out["scored_at"]) == {pd.Timestamp(HOUR + timedelta(hours=1))}
    assert set(out["as_of_date"]) == {D}
    assert score_session_intent(HOUR, "run-1") == 40
    total = read_frame("SELECT COUNT(*) AS n FROM serving.session_intent")["n"].item()
    assert total == 47  # both hours, no duplicates
    # an hour without sessions writes (and clears) an empty partition
    assert score_session_intent(HOUR + timedelta(hours=5), "run-3") == 0


def test_risk_rules_fallback_then_model(isolated_home) -> None:
    hourly = synthetic_frames.transaction_velocity(D, n=50, fraud_rate=0.3, seed=8, as_of_hour=HOUR)
    replace_partition(risk.FEATURE_TABLE, hourly, {"as_of_hour": HOUR}, column_types=HOURLY_TYPES)
    assert score_risk(HOUR, "run-1") == 50  # no champion -> rules, never an error
    rules = _serving("serving.risk_labels", "transaction_id")
    _assert_contract_columns("serving.risk_labels", rules)
    assert set(rules["model_version"]) == {"rules-v1"}
    assert set(rules["label"]) <= {"pass", "review", "block"}
    assert set(rules["action"]) <= {"none", "warn", "intercept", "freeze_account"}

    replace_partition(risk.FEATURE_TABLE, synthetic_frames.transaction_velocity(D, seed=9),
                      {"as_of_date": D, "as_of_hour": None}, column_types=HOURLY_TYPES)
    trained = risk.train(D, "train-1", risk.RiskConfig(epochs=10))
    assert trained.status == "champion"
    # Point-in-time: a plain re-run keeps what served the hour (the rules); a re-score uses the model.
    assert score_risk(HOUR, "run-2") == 50
    assert set(_serving("serving.risk_labels", "transaction_id")["model_version"]) == {"rules-v1"}
    assert score_risk(HOUR, "run-2", rescore=True) == 50
    out = _serving("serving.risk_labels", "transaction_id")
    assert len(out) == 50
    assert set(out["model_version"]) == {trained.version}
    assert set(out["run_id"]) == {"run-2"}
    assert out["risk_score"].between(0, 1).all()
    flagged = out[out["label"] != "pass"]
    assert len(flagged) > 0
    assert (flagged["reasons"].str.len() > 0).all()


def test_hour_must_be_an_hour_start() -> None:
    with pytest.raises(ValueError, match="hour start"):
        check_hour(datetime(2024, 3, 1, 9, 30))
