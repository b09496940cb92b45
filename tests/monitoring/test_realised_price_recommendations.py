"""Realised metrics of served price recommendations: sales planted from a known demand curve at
prices that change inside the window; the served elasticity must explain them better than a
shuffled one and than no price response, and the figures match a recomputation written here."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from tasks.monitoring.realised import RealisedConfig, compute_realised_metrics
from tasks.warehouse import read_frame, replace_partition
from tests.monitoring.planting import D, at, days, plant

TABLE = "serving.price_recommendations"
WINDOW = 7
SERVED = D + timedelta(days=1) - timedelta(days=WINDOW)


def _served(rng: np.random.Generator, n: int = 30) -> pd.DataFrame:
    current = rng.uniform(5, 50, n).round(2)
    q0 = rng.uniform(20, 60, n)
    elasticity = rng.uniform(-3.0, -0.5, n)
    rec = (current * rng.choice([0.9, 1.0, 1.1], n)).round(2)
    return pd.DataFrame({
        "product_id": [f"p{i:02d}" for i in range(n)], "category": "c", "current_price": current,
        "recommended_price": rec, "price_change_pct": 100 * (rec / current - 1), "elasticity": elasticity,
        "elasticity_se": 0.1, "expected_units_current": q0, "expected_units_recommended": q0,
        "expected_revenue_current": q0 * current, "expected_revenue_recommended": q0 * rec, "objective": "revenue",
        "action": np.where(rec > current, "raise", np.where(rec < current, "lower", "keep")), "reason": "r",
        "as_of_date": SERVED, "model_version": "px-v1", "run_id": "t", "scored_at": at(SERVED, 0)})


def _plant(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Served rows; a price list where half the products move to the recommended price on day 3;
    Poisson sales from the true curve q0 * (p / p0) ** elasticity. Returns (served, units, price)."""
    served = _served(rng)
    moved = np.arange(len(served)) % 2 == 0
    window = days(SERVED, WINDOW)
    price = np.repeat(served["current_price"].to_numpy()[:, None], WINDOW, axis=1)
    price[moved, 3:] = served["recommended_price"].to_numpy()[moved, None]
    changes = [{"product_id": p, "price": c, "is_promo": False, "valid_from": at(SERVED - timedelta(days=30), 0)}
               for p, c in zip(served["product_id"], served["current_price"], strict=True)]
    changes += [{"product_id": p, "price": r, "is_promo": False, "valid_from": at(window[3], 0)}
                for p, r, m in zip(served["product_id"], served["recommended_price"], moved, strict=True) if m]
    plant("raw.prices", changes)
    mean = served["expected_units_current"].to_numpy()[:, None] * (
        price / served["current_price"].to_numpy()[:, None]) ** served["elasticity"].to_numpy()[:, None]
    units = rng.poisson(mean).astype(float)
    rows = [{"product_id": p, "store_id": "all", "sales_date": d, "units": units[i, t],
             "revenue": units[i, t] * price[i, t]}
            for i, p in enumerate(served["product_id"]) for t, d in enumerate(window) if units[i, t] > 0]
    plant("marts.fct_daily_item_sales", rows)
    replace_partition(TABLE, served, {"as_of_date": SERVED})
    return served, units, price


def _metrics() -> dict[str, float]:
    rows = compute_realised_metrics(D, RealisedConfig(price_window_days=WINDOW))["pricing"]
    assert rows.skipped is None, rows.skipped
    return {r["metric"]: r["value"] for r in rows.rows}


def test_realised_units_and_revenue_against_a_recomputation(isolated_home) -> None:  # noqa: ANN001
    served, units, price = _plant(np.random.default_rng(4))
    got = _metrics()
    q0 = served["expected_units_current"].to_numpy()[:, None]
    curve = q0 * (price / served["current_price"].to_numpy()[:, None]) ** served["elasticity"].to_numpy()[:, None]
    actual = units.sum(axis=1)
    assert got["units_wape"] == pytest.approx(np.abs(actual - curve.sum(axis=1)).sum() / actual.sum())
    assert got["units_wape_flat"] == pytest.approx(np.abs(actual - q0[:, 0] * WINDOW).sum() / actual.sum())
    assert got["revenue_realised"] == pytest.approx((units * price).sum())
    assert got["revenue_expected"] == pytest.approx((curve * price).sum())
    assert got["units_realised"] == pytest.approx(actual.sum())
    moved = (served["action"] != "keep").to_numpy()
    at_rec = np.isclose(price, served["recommended_price"].to_numpy()[:, None], rtol=0.01)
    assert got["applied_share"] == pytest.approx(at_rec[moved].mean())
    # The true curve explains the sales better than no price response.
    assert got["units_wape"] < got["units_wape_flat"]
    stored = read_frame("SELECT COUNT(*) AS n FROM monitoring.realised_metrics WHERE model = 'pricing'")["n"].iloc[0]
    assert stored == len(got)


def test_a_shuffled_elasticity_explains_the_sales_worse(isolated_home) -> None:  # noqa: ANN001
    rng = np.random.default_rng(8)
    served, _, _ = _plant(rng)
    right = _metrics()["units_wape"]
    replace_partition(TABLE, served.assign(elasticity=-served["elasticity"] - 2.5), {"as_of_date": SERVED})
    wrong = _metrics()["units_wape"]
    assert wrong > right, (right, wrong)


def test_skips_while_the_window_is_open(isolated_home) -> None:  # noqa: ANN001
    _plant(np.random.default_rng(1))
    early = compute_realised_metrics(D - timedelta(days=1), RealisedConfig(price_window_days=WINDOW))["pricing"]
    assert early.skipped and "no price recommendations served" in early.skipped
    plant("marts.fct_daily_item_sales", [{"product_id": "p00", "store_id": "all", "sales_date": SERVED,
                                          "units": 1.0, "revenue": 1.0}])
    late = compute_realised_metrics(D, RealisedConfig(price_window_days=WINDOW))["pricing"]
    assert late.skipped and "truth not loaded yet" in late.skipped
