"""serving.inventory_actions from a real train + score of synthetic S on DuckDB: one action per
product with a readable reason and run metadata, idempotent per partition, the day's forecast
quantiles used when the forecaster scored the day, and a clear skip without inventory."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from tasks.applicability import skip_reason
from tasks.ingest.synthetic import generate
from tasks.score.inventory_actions import TABLE, inventory_actions, score_inventory
from tasks.train import inventory_policy
from tasks.train.registry import champion
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures.pricing_frames import shop_categories, shop_daily_sales

TYPES = {"as_of_hour": "TIMESTAMP"}


@pytest.fixture(scope="module")
def shop_s():
    return generate("S")


def _load_sales(shop, as_of: date) -> None:
    sales = shop_daily_sales(shop, as_of).assign(as_of_date=as_of, as_of_hour=pd.NaT)
    sales["as_of_hour"] = sales["as_of_hour"].astype("datetime64[ns]")
    partition = {"as_of_date": as_of, "as_of_hour": None}
    replace_partition(inventory_policy.FEATURE_TABLE, sales, partition, column_types=TYPES)
    cats = shop_categories(shop)
    items = pd.DataFrame({"product_id": list(cats), "category": list(cats.values()), "as_of_date": as_of})
    items["as_of_hour"] = pd.Series([pd.NaT] * len(items), dtype="datetime64[ns]")
    replace_partition("features.item_features", items, partition, column_types=TYPES)


def _load_shop(shop, as_of: date) -> None:
    _load_sales(shop, as_of)
    # Every snapshot in one load partition; the policy reads those before the as-of instant.
    replace_partition("raw.inventory", shop["inventory"].assign(dt=as_of), {"dt": as_of})


def test_train_and_score_synthetic_s(isolated_home, shop_s) -> None:
    as_of = shop_s.end.date()
    _load_shop(shop_s, as_of)
    started = datetime.now()
    result = inventory_policy.train(as_of, "train-1")
    assert result.status == "champion", result.reason
    assert result.metrics["turnover_at_fill"] > max(b["turnover_at_fill"] for b in result.baseline_metrics.values())
    for metric in ("fill_rate", "stockout_days", "avg_inventory", "turnover", "units_lost"):
        assert metric in result.metrics and all(metric in b for b in result.baseline_metrics.values())
    n = score_inventory(as_of, "run-1")
    assert (datetime.now() - started).total_seconds() < 60  # a few seconds alone; generous for a busy CI
    rows = read_frame(f"SELECT * FROM {TABLE} ORDER BY product_id")
    assert n == len(rows) == shop_s["inventory"]["product_id"].nunique()
    assert set(rows["model_version"]) == {champion("inventory_policy").version} and set(rows["run_id"]) == {"run-1"}
    assert set(rows["action"]) == {"order", "none"} and set(rows["policy"]) == {"policy"}
    assert set(rows["demand_source"]) == {"own_history"}  # no forecaster scored the day
    orders = rows[rows["action"] == "order"]
    # Whole packs, at least the MOQ, and the reason says what and why.
    assert ((orders["order_quantity"] % orders["pack_size"]) == 0).all()
    assert (orders["order_quantity"] >= orders["moq"]).all()
    assert (orders["p_stockout"] > 1 - orders["service_level"]).all()
    first = orders.iloc[0]
    assert first["reason"].startswith(f"P(stock-out in {first['protection_days']} days) ")
    assert f"order {first['order_quantity']:.0f} units" in first["reason"]
    assert (rows["protection_days"] == rows["lead_time_days"] + rows["review_days"]).all()
    assert np.allclose(rows["safety_stock"], rows["reorder_point"] - rows["demand_mean"])
    # Stock now = the last snapshot (as_of - 1, 00:00) minus that day's sales.
    last = shop_s["inventory"][shop_s["inventory"]["snapshot_at"] == shop_s["inventory"]["snapshot_at"].max()]
    assert (rows.set_index("product_id")["stock_on_hand"] <= last.set_index("product_id")["stock_quantity"]).all()

    # Re-scoring the partition replaces it with identical rows (same version: point in time).
    assert score_inventory(as_of, "run-1") == n
    pd.testing.assert_frame_equal(rows, read_frame(f"SELECT * FROM {TABLE} ORDER BY product_id"))
    # The daily output gate passes on the real partition and fails on a broken one.
    from tasks.quality import DataQualityError, run_suite

    assert run_suite("serving_inventory_actions", {"as_of_date": as_of}).success
    replace_partition(TABLE, rows.assign(order_quantity=-1.0), {"as_of_date": as_of})
    with pytest.raises(DataQualityError, match="order_quantity"):
        run_suite("serving_inventory_actions", {"as_of_date": as_of})


def test_the_days_forecast_quantiles_are_used_when_present(isolated_home, shop_s) -> None:
    as_of = shop_s.end.date()
    _load_shop(shop_s, as_of)
    inventory_policy.train(as_of, "train-1")
    products = sorted(shop_s["inventory"]["product_id"].unique())[:3]
    days = pd.date_range(as_of, periods=28, freq="D")
    forecasts = pd.DataFrame([{"item_id": p, "forecast_date": d.date(), "p10": 1.0, "p50": 2.0, "p90": 4.0,
                               "price_p50": 9.9, "as_of_date": as_of, "model_version": "fc-v1", "run_id": "r",
                               "scored_at": datetime(2026, 3, 2)} for p in products for d in days])
    replace_partition("serving.demand_forecasts", forecasts, {"as_of_date": as_of})
    from tasks.train.common import load_artefact

    entry = champion("inventory_policy")
    rows = inventory_actions(entry, load_artefact(entry.artefact_uri), as_of, "run-2").set_index("product_id")
    assert set(rows.loc[products, "demand_source"]) == {"demand_forecaster:fc-v1"}
    assert (rows.drop(index=products)["demand_source"] == "own_history").all()
    one = rows.loc[products[0]]
    daily = 0.185 * 1.0 + 0.63 * 2.0 + 0.185 * 4.0
    assert one["demand_mean"] == pytest.approx(daily * one["protection_days"])


def test_skips_with_a_reason_without_inventory(isolated_home, shop_s) -> None:
    as_of = shop_s.end.date()
    _load_sales(shop_s, as_of)
    lines = shop_s["order_lines"].head(5).assign(dt=as_of)
    replace_partition("raw.order_lines", lines, {"dt": as_of})
    before = datetime(as_of.year, as_of.month, as_of.day)
    reason = skip_reason("model", "inventory_policy", before)
    assert reason is not None and "raw.inventory" in reason
    assert "raw.inventory" in skip_reason("scorer", "inventory_actions", before)
    result = inventory_policy.train(as_of, "train-1")
    assert result.status == "skipped" and "raw.inventory" in result.reason
    replace_partition("raw.inventory", shop_s["inventory"].assign(dt=as_of), {"dt": as_of})
    assert skip_reason("model", "inventory_policy", before) is None
