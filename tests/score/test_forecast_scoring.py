"""Demand forecast scoring: unit quantiles and price on every row, champion version on
every row, one partition rewritten idempotently. Real training on a DuckDB warehouse."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from tasks.score import demand_forecasts as scoring
from tasks.train import demand_forecaster as demand
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures import synthetic_frames

D = date(2024, 3, 1)
TYPES = {"as_of_hour": "TIMESTAMP"}
CFG = demand.DemandConfig(epochs=3, horizon_days=7)


def _load(as_of: date, n_products: int = 5) -> None:
    sales = synthetic_frames.daily_item_sales_pooled(as_of, n_products=n_products, days=60, seed=3)
    replace_partition(demand.FEATURE_TABLE, sales.drop(columns="category"), {"as_of_date": as_of, "as_of_hour": None},
                      column_types=TYPES)
    items = sales.drop_duplicates("product_id")[["product_id", "category"]].assign(
        as_of_date=as_of, as_of_hour=pd.Series([None] * n_products, dtype="datetime64[ns]"))
    replace_partition(demand.ITEM_TABLE, items, {"as_of_date": as_of, "as_of_hour": None}, column_types=TYPES)


def test_forecast_rows_carry_price_and_version(isolated_home) -> None:
    _load(D)
    result = demand.train(D, "train-1", CFG)
    assert result.status == "champion"
    rows = scoring.build_forecasts(D, "run-1")
    assert len(rows) == 5 * 7
    assert set(rows["model_version"]) == {result.version}
    assert rows["price_p50"].gt(0).all()
    assert ((rows["p10"] <= rows["p50"]) & (rows["p50"] <= rows["p90"])).all()
    assert rows["forecast_date"].min() == D


def test_partition_is_replaced_not_appended(isolated_home) -> None:
    _load(D)
    demand.train(D, "train-1", CFG)
    n = scoring.score_demand(D, "run-1")
    first = read_frame("SELECT * FROM serving.demand_forecasts ORDER BY item_id, forecast_date")
    assert n == len(first) == 5 * 7
    assert first["model_version"].notna().all()
    _load(D + timedelta(days=1))
    assert scoring.score_demand(D + timedelta(days=1), "run-2") == n
    assert scoring.score_demand(D, "run-1") == n
    again = read_frame("SELECT * FROM serving.demand_forecasts WHERE as_of_date = :d ORDER BY item_id, forecast_date",
                       {"d": D})
    pd.testing.assert_frame_equal(first, again)
    assert read_frame("SELECT COUNT(*) AS n FROM serving.demand_forecasts")["n"].item() == 2 * n


def test_stale_sales_partition_drops_days_before_as_of(isolated_home) -> None:
    _load(D)
    demand.train(D, "train-1", CFG)
    later = D + timedelta(days=3)
    rows = scoring.build_forecasts(later, "run-1")
    assert rows["forecast_date"].min() == later
    assert len(rows) == 5 * (7 - 3)
