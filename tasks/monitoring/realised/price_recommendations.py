"""Served price recommendations vs the units and revenue realised in the days after.

A partition served on ``A`` (``serving.price_recommendations``) is judged on ``[A, A + W)``
(``RealisedConfig.price_window_days``) on the day that window closes, once
``marts.fct_daily_item_sales`` reaches it. The shop may or may not have applied the
recommended price, so each product-day is judged at the price it was *actually* sold at:

- the shown price from ``raw.prices`` (the last change published before the day ends), else
  the day's realised average unit price, else the served current price (carried forward);
- expected units that day = the served ``expected_units_current`` (per day) moved along the
  served elasticity: ``q0 * (price / current_price) ** elasticity`` -- the demand curve the
  recommendation was optimised on.

Metrics (one row per model version, served partition, metric):

- ``units_wape``: per product, the window's realised units vs the expected units at the
  realised prices (sum|a - e| / sum a); ``units_wape_flat``: the same with the elasticity set
  to 0 (no price response) -- the reference that says whether the served elasticity helped;
- ``units_bias``: (expected - realised) / realised over all products;
- ``revenue_realised`` and ``revenue_expected`` (expected units x realised price);
- ``applied_share``: among products whose action was to change the price, the share of
  product-days sold at the recommended price (within 1 %).

Not measurable, and so not written: the revenue the other price would have made on the same
days (the counterfactual is not in the warehouse; the synthetic check of the pricing recipe
measures it on the simulator instead), and demand on days the product was out of stock
(censored sales count as low demand here).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from tasks.monitoring.realised.common import Evaluation, RealisedConfig, day_start, served_rows, truth_missing
from tasks.train.metrics import wape
from tasks.train.pricing.data import read_price_changes
from tasks.train.pricing.panel import daily_prices
from tasks.warehouse import read_frame

MODEL = "pricing"
TABLE = "serving.price_recommendations"
SALES = "marts.fct_daily_item_sales"


def realised_panel(sales: pd.DataFrame, shown: pd.DataFrame, served: pd.DataFrame, first: date,
                   days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(units, revenue, price) per (served product x day): units and revenue summed over stores;
    price = shown price, else realised average price, else the last known (from current_price)."""
    products = served["product_id"].tolist()
    columns = [first + timedelta(days=i) for i in range(days)]
    s = sales.assign(product_id=sales["product_id"].astype(str),
                     sales_date=pd.to_datetime(sales["sales_date"]).dt.date)

    def wide(frame: pd.DataFrame, value: str, column: str = "sales_date") -> pd.DataFrame:
        if frame.empty:
            return pd.DataFrame(np.nan, index=products, columns=columns)
        return frame.pivot_table(index="product_id", columns=column, values=value, aggfunc="sum").reindex(
            index=products, columns=columns)

    units = wide(s, "units").fillna(0.0)
    revenue = wide(s, "revenue").fillna(0.0)
    average = (revenue / units.where(units > 0)).where(lambda r: r > 0)
    shown_wide = wide(shown.assign(product_id=shown["product_id"].astype(str)), "shown_price") if len(shown) \
        else pd.DataFrame(np.nan, index=products, columns=columns)
    price = shown_wide.combine_first(average)
    start = pd.Series(served["current_price"].to_numpy(dtype=float), index=products, name="start")
    price = pd.concat([start, price], axis=1).ffill(axis=1).drop(columns="start")
    return units.to_numpy(dtype=float), revenue.to_numpy(dtype=float), price.to_numpy(dtype=float)


def expected_units(served: pd.DataFrame, price: np.ndarray, *, flat: bool = False) -> np.ndarray:
    """(products x days) expected units at ``price`` on the served demand curve."""
    q0 = served["expected_units_current"].to_numpy(dtype=float)[:, None]
    current = served["current_price"].to_numpy(dtype=float)[:, None]
    elasticity = 0.0 if flat else served["elasticity"].to_numpy(dtype=float)[:, None]
    return q0 * np.power(price / current, elasticity)


def evaluate(day: date, cfg: RealisedConfig) -> Evaluation:
    result = Evaluation(MODEL)
    window = cfg.price_window_days
    served_on = day + timedelta(days=1) - timedelta(days=window)
    served = served_rows(TABLE, "as_of_date = :a", {"a": served_on})
    if served is None:
        return result.skip(f"{TABLE} does not exist")
    numeric = {c: pd.to_numeric(served[c], errors="coerce").astype(float)
               for c in ("current_price", "recommended_price", "expected_units_current", "elasticity")}
    served = served.assign(**numeric)
    served = served[(served["current_price"] > 0) & np.isfinite(served["expected_units_current"])
                    & np.isfinite(served["elasticity"])]
    if served.empty:
        return result.skip(f"no price recommendations served on {served_on} (judged on the {window} days "
                           f"ending {day})")
    end = day_start(day + timedelta(days=1))
    missing = truth_missing([(SALES, "sales_date")], end)
    if missing:
        return result.skip(missing)
    sales = read_frame(f"SELECT product_id, sales_date, units, revenue FROM {SALES} "
                       "WHERE sales_date >= :f AND sales_date <= :d", {"f": served_on, "d": day})
    changes = read_price_changes(day + timedelta(days=1))  # published before the window's last midnight
    shown = daily_prices(changes, served_on, day) if not changes.empty else pd.DataFrame()
    for version, part in served.groupby("model_version", sort=True):
        part = part.assign(product_id=part["product_id"].astype(str)).sort_values("product_id").reset_index(drop=True)
        units, revenue, price = realised_panel(sales, shown, part, served_on, window)
        expected = expected_units(part, price)
        flat = expected_units(part, price, flat=True)
        common = {"model_version": str(version), "output_table": TABLE, "output_as_of_date": served_on,
                  "truth_through": end, "n_rows": len(part)}
        actual = units.sum(axis=1)
        result.add(metric="units_wape", value=wape(actual, expected.sum(axis=1)), **common)
        result.add(metric="units_wape_flat", value=wape(actual, flat.sum(axis=1)), **common)
        result.add(metric="units_bias", value=float((expected.sum() - actual.sum()) / actual.sum())
                   if actual.sum() > 0 else float("nan"), **common)
        result.add(metric="units_realised", value=float(actual.sum()), **common)
        result.add(metric="revenue_realised", value=float(revenue.sum()), **common)
        result.add(metric="revenue_expected", value=float((expected * price).sum()), **common)
        moved = (part["action"] != "keep").to_numpy()
        recommended = part["recommended_price"].to_numpy(dtype=float)[:, None]
        at_recommended = np.abs(price / recommended - 1.0) <= 0.01
        result.add(metric="applied_share", value=float(at_recommended[moved].mean()) if moved.any()
                   else float("nan"), **common)
    return result
