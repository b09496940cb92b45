"""Point-in-time serving (issue 10): re-running a past partition after a newer champion was
promoted reproduces the rows that were served; only an explicit re-score changes them, and
``ml.promotion_log`` says so.

Real torch trainings (risk: hourly scorer; demand forecaster: daily scorer) and real scoring
through ``run_scorer`` (what the DAGs' ScoreOperator calls), on DuckDB and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from ecomflow_airflow.operators import ScoreOperator

from tasks.partitions import Partition
from tasks.score.pipeline import run_scorer
from tasks.score.serving_versions import recorded_version
from tasks.train import demand_forecaster as demand
from tasks.train import registry, risk
from tasks.train.retrain import rescore_latest
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures import synthetic_frames

D1, D2 = date(2024, 3, 1), date(2024, 3, 8)
HOUR = datetime(2024, 3, 8, 10)
TYPES = {"as_of_hour": "TIMESTAMP", "is_fraud": "BOOLEAN", "feature_cutoff_at": "TIMESTAMP"}


def _daily_features(table: str, frame: pd.DataFrame, as_of: date) -> None:
    replace_partition(table, frame, {"as_of_date": as_of, "as_of_hour": None}, column_types=TYPES)


def _rows(table: str, where: str, params: dict, order: str) -> pd.DataFrame:
    return read_frame(f"SELECT * FROM {table} WHERE {where} ORDER BY {order}", params)


def _promote_any_sane_challenger(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import _reset_settings

    monkeypatch.setenv("ECOMFLOW_PROMOTION_MARGIN", "-1")  # any sane challenger beats the champion
    _reset_settings()


def test_rerun_of_a_past_hour_keeps_its_version_until_rescored(any_warehouse, monkeypatch) -> None:
    _daily_features(risk.FEATURE_TABLE, synthetic_frames.transaction_velocity(D1, n=2000, seed=11), D1)
    v1 = risk.train(D1, "train-1", risk.RiskConfig(epochs=3))
    assert v1.status == "champion"
    hourly = synthetic_frames.transaction_velocity(HOUR.date(), n=60, seed=5, as_of_hour=HOUR, labelled=False)
    replace_partition(risk.FEATURE_TABLE, hourly, {"as_of_hour": HOUR}, column_types=TYPES)
    hour = Partition(HOUR.date(), HOUR.hour)
    assert run_scorer("risk_labels", hour, "hourly-1") == 60
    served = _rows("serving.risk_labels", "as_of_hour = :h", {"h": HOUR}, "transaction_id")
    assert set(served["model_version"]) == {v1.version}
    recorded = read_frame("SELECT * FROM ml.serving_versions")

    _promote_any_sane_challenger(monkeypatch)
    _daily_features(risk.FEATURE_TABLE, synthetic_frames.transaction_velocity(D2, n=2000, seed=14), D2)
    v2 = risk.train(D2, "train-2", risk.RiskConfig(epochs=3))
    assert v2.status == "champion" and v2.version != v1.version
    assert registry.champion("risk").version == v2.version

    # The re-run (an Airflow Clear: same run id) reproduces yesterday's rows exactly.
    assert run_scorer("risk_labels", hour, "hourly-1") == 60
    pd.testing.assert_frame_equal(_rows("serving.risk_labels", "as_of_hour = :h", {"h": HOUR}, "transaction_id"),
                                  served)
    assert recorded_version("risk_labels", hour) == v1.version
    # ... and leaves its version record untouched (recorded_at included): a Clear changes no table.
    pd.testing.assert_frame_equal(read_frame("SELECT * FROM ml.serving_versions"), recorded)

    # The explicit re-score (what retrain/rollback run) serves the new champion and logs it.
    rescored = rescore_latest("risk", "rescore-1", decided_by="on-call:rescore-1")
    assert rescored == {"risk_labels": {"partition": hour.label, "rows": 60, "served_before": v1.version}}
    after = _rows("serving.risk_labels", "as_of_hour = :h", {"h": HOUR}, "transaction_id")
    assert set(after["model_version"]) == {v2.version}
    assert not after["risk_score"].equals(served["risk_score"])
    assert recorded_version("risk_labels", hour) == v2.version
    log = registry.decisions("risk")
    entry = log[log["decision"] == "rescored"].iloc[0]
    assert entry["version"] == v2.version and entry["decided_by"] == "on-call:rescore-1"
    assert f"risk_labels {hour.label} (was {v1.version})" in entry["reason"]
    # One version row per partition, however often it was scored.
    assert len(read_frame("SELECT * FROM ml.serving_versions WHERE scorer = 'risk_labels'")) == 1


def test_rerun_of_a_past_day_keeps_its_version(any_warehouse, monkeypatch) -> None:
    for as_of, seed in ((D1, 6), (D2, 7)):
        _daily_features(demand.FEATURE_TABLE, synthetic_frames.daily_item_sales(as_of, n_products=5, seed=seed),
                        as_of)
    cfg = demand.DemandConfig(epochs=2, horizon_days=7)
    v1 = demand.train(D1, "train-1", cfg)
    assert v1.status == "champion"
    day = Partition(D1 - timedelta(days=1))  # the daily run whose as_of_date is D1
    n = run_scorer("demand_forecasts", day, "daily-1")
    served = _rows("serving.demand_forecasts", "as_of_date = :d", {"d": D1}, "item_id, forecast_date")
    assert n == len(served) == 5 * 7 and set(served["model_version"]) == {v1.version}

    _promote_any_sane_challenger(monkeypatch)
    v2 = demand.train(D2, "train-2", cfg)
    assert registry.champion("demand_forecaster").version == v2.version != v1.version

    assert run_scorer("demand_forecasts", day, "daily-1") == n
    pd.testing.assert_frame_equal(
        _rows("serving.demand_forecasts", "as_of_date = :d", {"d": D1}, "item_id, forecast_date"), served)
    # The daily DAG's score task, with the run's `rescore` param off, reproduces it too; with it on
    # (the UI's Trigger form) the champion serves that day and ml.promotion_log says who asked.
    context = {"data_interval_start": datetime.combine(day.dt, datetime.min.time()),
               "data_interval_end": datetime.combine(D1, datetime.min.time()), "run_id": "manual__rescore-d1"}
    task = ScoreOperator(task_id="score.demand_forecasts", scorer="demand_forecasts", cadence="daily")
    # (the task first checks that the source has sales at all: tasks/applicability.py)
    replace_partition("raw.daily_sales", pd.DataFrame({"product_id": ["p0"], "sales_date": [day.dt], "units": [1.0],
                                                       "dt": [day.dt]}), {"dt": day.dt})
    assert task.execute({**context, "params": {"rescore": False}}) == n
    assert set(_rows("serving.demand_forecasts", "as_of_date = :d", {"d": D1}, "item_id")["model_version"]) \
        == {v1.version}
    assert task.execute({**context, "params": {"rescore": True}}) == n
    rescored = _rows("serving.demand_forecasts", "as_of_date = :d", {"d": D1}, "item_id, forecast_date")
    assert set(rescored["model_version"]) == {v2.version}
    assert recorded_version("demand_forecasts", day) == v2.version
    log = registry.decisions("demand_forecaster")
    entry = log[log["decision"] == "rescored"].iloc[0]
    assert entry["version"] == v2.version and entry["decided_by"] == "trigger:manual__rescore-d1"
    assert f"demand_forecasts {day.label} (was {v1.version})" in entry["reason"]
