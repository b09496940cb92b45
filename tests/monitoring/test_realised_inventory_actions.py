"""Realised metrics of served inventory actions: the evaluator's replay against a plain
day-by-day recomputation written here, on random planted actions, sales and snapshots."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from tasks.monitoring.realised import RealisedConfig, compute_realised_metrics
from tasks.warehouse import read_frame, replace_partition
from tests.monitoring.planting import D, at, days, plant

TABLE = "serving.inventory_actions"


def _actions(served_on, lead: int, review: int, n: int, rng: np.random.Generator) -> pd.DataFrame:  # noqa: ANN001
    on_hand = rng.integers(0, 15, n).astype(float)
    on_order = rng.integers(0, 5, n).astype(float)
    return pd.DataFrame({
        "product_id": [f"p{lead}_{i}" for i in range(n)], "category": "c", "stock_on_hand": on_hand,
        "on_order": on_order, "inventory_position": on_hand + on_order, "lead_time_days": lead,
        "review_days": review, "protection_days": lead + review, "pack_size": 1, "moq": 0,
        "demand_mean": rng.uniform(5, 25, n), "demand_std": 3.0, "service_level": 0.95, "safety_stock": 1.0,
        "reorder_point": 10.0, "order_quantity": rng.integers(0, 4, n).astype(float) * 6,
        "p_stockout": rng.uniform(0, 1, n), "days_of_cover": 3.0, "action": "order", "reason": "r",
        "demand_source": "own_history", "policy": "learned", "as_of_date": served_on,
        "model_version": "inv-v1", "run_id": "t", "scored_at": at(served_on, 0)})


def _recompute(actions: pd.DataFrame, units: dict[tuple[str, object], float], zero_days: set) -> dict[str, float]:
    """A plain loop: on hand = position, the order lands after the lead time, lost sales."""
    sold = lost = lost_bare = sold_bare = stockouts = 0.0
    brier, abs_err, total_all, censored = [], 0.0, 0.0, 0
    for row in actions.itertuples(index=False):
        stock, bare = row.inventory_position, row.inventory_position
        total = 0.0
        for t in range(row.protection_days):
            d = row.as_of_date + timedelta(days=t)
            if t == row.lead_time_days:
                stock += row.order_quantity
            demand = units.get((row.product_id, d), 0.0)
            total += demand
            s, b = min(stock, demand), min(bare, demand)
            stock, bare = stock - s, bare - b
            sold, lost, sold_bare, lost_bare = sold + s, lost + demand - s, sold_bare + b, lost_bare + demand - b
            stockouts += demand - s > 1e-9
            censored += (row.product_id, d) in zero_days
        brier.append((row.p_stockout - float(total > row.inventory_position)) ** 2)
        abs_err += abs(total - row.demand_mean)
        total_all += total
    return {"fill_rate": sold / (sold + lost), "fill_rate_without_orders": sold_bare / (sold_bare + lost_bare),
            "units_lost": lost, "units_demanded": sold + lost, "stockout_days": stockouts,
            "stockout_brier": float(np.mean(brier)), "demand_wape": abs_err / total_all,
            "censored_product_days": float(censored)}


def _plant(rng: np.random.Generator, last_sales_day=D) -> dict[int, pd.DataFrame]:  # noqa: ANN001
    """Two partitions whose protection periods close on D (lead 3 + review 2 from D-4, lead 1 +
    review 2 from D-2) and one that closes later (not judged); random sparse sales over 2 stores."""
    parts = {5: _actions(D - timedelta(days=4), 3, 2, 12, rng), 3: _actions(D - timedelta(days=2), 1, 2, 8, rng)}
    later = _actions(D - timedelta(days=1), 4, 2, 5, rng)
    for frame in (*parts.values(), later):
        replace_partition(TABLE, frame, {"as_of_date": frame["as_of_date"].iloc[0]})
    products = [p for f in parts.values() for p in f["product_id"]]
    rows = [{"product_id": p, "store_id": store, "sales_date": d, "units": float(rng.poisson(2.5))}
            for p in products for d in days(D - timedelta(days=6), 7) for store in ("all", "s2")
            if d <= last_sales_day]
    plant("marts.fct_daily_item_sales", [r for r in rows if r["units"] > 0])  # sparse, like the mart
    snaps = [{"product_id": p, "stock_quantity": float(rng.integers(0, 3)), "snapshot_at": at(d, 0)}
             for p in products for d in days(D - timedelta(days=6), 7)]
    plant("raw.inventory", snaps)
    return parts


def test_replay_matches_a_day_by_day_recomputation(isolated_home) -> None:  # noqa: ANN001
    rng = np.random.default_rng(11)
    parts = _plant(rng)
    sales = read_frame("SELECT product_id, sales_date, units FROM marts.fct_daily_item_sales")
    units = sales.assign(sales_date=pd.to_datetime(sales["sales_date"]).dt.date).groupby(
        ["product_id", "sales_date"])["units"].sum().to_dict()
    snaps = read_frame("SELECT product_id, stock_quantity, snapshot_at FROM raw.inventory")
    zero = {(p, pd.Timestamp(t).date()) for p, q, t in snaps.itertuples(index=False) if q <= 0}
    result = compute_realised_metrics(D, RealisedConfig())["inventory_policy"]
    assert result.skipped is None, result.skipped
    got = read_frame("SELECT output_as_of_date, horizon_days, metric, value, n_rows FROM monitoring.realised_metrics "
                     "WHERE dt = :d AND model = 'inventory_policy'", {"d": D})
    assert set(got["horizon_days"]) == {5, 3}  # the partition whose period closes later is not judged
    for horizon, actions in parts.items():
        rows = got[got["horizon_days"] == horizon]
        assert set(rows["n_rows"]) == {len(actions)}
        by = dict(zip(rows["metric"], rows["value"], strict=True))
        expected = _recompute(actions, units, zero)
        assert by == pytest.approx(expected), (horizon, by, expected)
        assert by["fill_rate"] >= by["fill_rate_without_orders"]
    # Idempotent: a re-run replaces the day's rows with the same rows.
    compute_realised_metrics(D, RealisedConfig())
    again = read_frame("SELECT output_as_of_date, horizon_days, metric, value, n_rows FROM monitoring.realised_metrics "
                       "WHERE dt = :d AND model = 'inventory_policy'", {"d": D})
    cols = ["horizon_days", "metric"]
    pd.testing.assert_frame_equal(again.sort_values(cols).reset_index(drop=True),
                                  got.sort_values(cols).reset_index(drop=True))


def test_a_shuffled_demand_forecast_scores_worse(isolated_home) -> None:  # noqa: ANN001
    """demand_wape can fail: served means set to the realised totals score 0, shuffled ones do not."""
    rng = np.random.default_rng(5)
    parts = _plant(rng)
    sales = read_frame("SELECT product_id, SUM(units) AS u FROM marts.fct_daily_item_sales "
                       "WHERE sales_date >= :f GROUP BY product_id", {"f": D - timedelta(days=4)})
    exact = parts[5].assign(demand_mean=parts[5]["product_id"].map(dict(zip(sales["product_id"], sales["u"],
                                                                            strict=True))).fillna(0.0))
    shuffled = exact.assign(demand_mean=rng.permutation(exact["demand_mean"].to_numpy()))
    wape = {}
    for name, frame in (("exact", exact), ("shuffled", shuffled)):
        replace_partition(TABLE, frame, {"as_of_date": frame["as_of_date"].iloc[0]})
        rows = compute_realised_metrics(D, RealisedConfig())["inventory_policy"].rows
        wape[name] = next(r["value"] for r in rows if r["metric"] == "demand_wape" and r["horizon_days"] == 5)
    assert wape["exact"] == pytest.approx(0.0) and wape["shuffled"] > 0.1, wape


def test_skips_until_the_period_closes_and_the_sales_are_loaded(isolated_home) -> None:  # noqa: ANN001
    _plant(np.random.default_rng(2), last_sales_day=D - timedelta(days=2))
    late = compute_realised_metrics(D, RealisedConfig())["inventory_policy"]
    assert late.skipped and "truth not loaded yet" in late.skipped
    none_due = compute_realised_metrics(D - timedelta(days=3), RealisedConfig())["inventory_policy"]
    assert none_due.skipped and "protection period" in none_due.skipped
    assert read_frame("SELECT COUNT(*) AS n FROM monitoring.realised_metrics "
                      "WHERE model = 'inventory_policy'")["n"].iloc[0] == 0
