"""Served inventory actions replayed against the demand that followed: fill rate, stock-out days,
units lost, and how well the served demand and stock-out probability held.

An action served on ``A`` (``serving.inventory_actions``) promises to cover the product's
*protection period* ``[A, A + protection_days)`` (lead time + review: the order placed on ``A``
arrives after the lead time, the next one after the next review). It is judged on the day that
period closes (``A + protection_days - 1``), once ``marts.fct_daily_item_sales`` reaches it,
one row per (model version, served partition, metric) with ``horizon_days = protection_days``.

The replay (``tasks.replenishment.simulate``, the physics the policy was trained and evaluated
with) starts from the served position (on hand + on order), places the served order on day 0,
which arrives after the served lead time, and serves each day's realised units (store sales
summed per product, missing day = 0). Metrics:

- ``fill_rate``, ``stockout_days`` (product-days with unmet demand), ``units_lost``,
  ``units_demanded``: what the served orders achieved;
- ``fill_rate_without_orders``: the same replay with no order (what the orders added);
- ``stockout_brier``: the served ``p_stockout`` (P(demand over the period > position) before
  ordering) against whether the realised demand did exceed the served position;
- ``demand_wape``: the served ``demand_mean`` over the period against the realised units;
- ``censored_product_days``: product-days of the period on which the shop's own snapshot
  (``raw.inventory``) shows no stock, when the source has snapshots.

Not measurable from the warehouse, and so not claimed: (1) when the units already on order
arrive (``raw.inventory`` gives the amount, not the due date), so they count as available from
day 0 -- an optimistic bound on stock-outs before the lead time; (2) true demand on days the
real shop was out of stock: sales are censored there (lost sales are never recorded), so
``units_lost`` is a lower bound, and ``censored_product_days`` says how much of the period
that concerns; (3) the actual supplier lead time of the recommended order (the shop placed its
own orders, not necessarily ours), so the served lead time is used.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from tasks.monitoring.realised.common import Evaluation, RealisedConfig, day_start, served_rows, truth_missing
from tasks.replenishment import Replay, simulate
from tasks.warehouse import qualified, read_frame, table_exists

MODEL = "inventory_policy"
TABLE = "serving.inventory_actions"
SALES = "marts.fct_daily_item_sales"
SNAPSHOTS = "raw.inventory"


def realised_units(sales: pd.DataFrame, products: list[str], first: date, days: int) -> np.ndarray:
    """(products x days) units from ``first``, stores summed, zero-filled (sparse mart)."""
    if sales.empty:
        return np.zeros((len(products), days))
    s = sales.assign(product_id=sales["product_id"].astype(str),
                     sales_date=pd.to_datetime(sales["sales_date"]).dt.date)
    wide = s.pivot_table(index="product_id", columns="sales_date", values="units", aggfunc="sum")
    columns = [first + timedelta(days=i) for i in range(days)]
    return wide.reindex(index=products, columns=columns).fillna(0.0).to_numpy(dtype=float)


def replay(actions: pd.DataFrame, demand: np.ndarray, *, with_orders: bool = True) -> Replay:
    """Play ``demand`` from the served position with the served order placed on day 0 (only)."""
    position = actions["inventory_position"].to_numpy(dtype=float)
    order = actions["order_quantity"].to_numpy(dtype=float) if with_orders else np.zeros(len(actions))
    n, days = demand.shape
    return simulate(demand, actions["lead_time_days"].to_numpy(dtype=int), np.ones(n), np.zeros(n),
                    lambda t, pos: pos + order, position, review_days=days + 1)


def censored_days(products: list[str], first: date, days: int) -> float | None:
    """Product-days in ``[first, first + days)`` whose snapshot shows no stock (None: no snapshots)."""
    if not table_exists(SNAPSHOTS):
        return None
    end = first + timedelta(days=days)
    snaps = read_frame(f"SELECT product_id, stock_quantity, snapshot_at FROM {qualified(SNAPSHOTS)} "
                       "WHERE snapshot_at >= :f AND snapshot_at < :e", {"f": day_start(first), "e": day_start(end)})
    if snaps.empty:
        return None
    snaps = snaps.assign(product_id=snaps["product_id"].astype(str),
                         day=pd.to_datetime(snaps["snapshot_at"]).dt.date)
    snaps = snaps[snaps["product_id"].isin(set(products))]
    # a product-day is censored when any snapshot of that day shows nothing on hand
    empty = snaps[pd.to_numeric(snaps["stock_quantity"], errors="coerce") <= 0]
    return float(empty[["product_id", "day"]].drop_duplicates().shape[0])


def evaluate(day: date, cfg: RealisedConfig) -> Evaluation:
    result = Evaluation(MODEL)
    first = day - timedelta(days=cfg.inventory_max_protection_days)
    served = served_rows(TABLE, "as_of_date >= :f AND as_of_date <= :d", {"f": first, "d": day})
    if served is None:
        return result.skip(f"{TABLE} does not exist")
    served = served.assign(as_of_date=pd.to_datetime(served["as_of_date"]).dt.date,
                           product_id=served["product_id"].astype(str))
    closes = [a + timedelta(days=int(p) - 1) for a, p in zip(served["as_of_date"], served["protection_days"],
                                                              strict=True)]
    due = served[[c == day for c in closes]]
    if due.empty:
        return result.skip(f"no served inventory action's protection period (lead time + review) ends on {day}")
    end = day_start(day + timedelta(days=1))
    missing = truth_missing([(SALES, "sales_date")], end)
    if missing:
        return result.skip(missing)
    oldest = min(due["as_of_date"])
    sales = read_frame(f"SELECT product_id, sales_date, units FROM {SALES} WHERE sales_date >= :f "
                       "AND sales_date <= :d", {"f": oldest, "d": day})
    groups = due.groupby(["model_version", "as_of_date", "protection_days"], sort=True)
    for (version, served_on, period), part in groups:
        part = part.sort_values("product_id").reset_index(drop=True)
        products = part["product_id"].tolist()
        demand = realised_units(sales, products, served_on, int(period))
        metrics = replay(part, demand).metrics()
        bare = replay(part, demand, with_orders=False).metrics()
        total = demand.sum(axis=1)
        exceeded = (total > part["inventory_position"].to_numpy(dtype=float) + 1e-9).astype(float)
        common = {"model_version": str(version), "output_table": TABLE, "output_as_of_date": served_on,
                  "truth_through": end, "horizon_days": int(period), "n_rows": len(part)}
        for metric in ("fill_rate", "stockout_days", "units_lost", "units_demanded"):
            result.add(metric=metric, value=metrics[metric], **common)
        result.add(metric="fill_rate_without_orders", value=bare["fill_rate"], **common)
        result.add(metric="stockout_brier",
                   value=float(np.mean((part["p_stockout"].to_numpy(dtype=float) - exceeded) ** 2)), **common)
        mean = part["demand_mean"].to_numpy(dtype=float)
        result.add(metric="demand_wape",
                   value=float(np.abs(total - mean).sum() / total.sum()) if total.sum() > 0 else float("nan"),
                   **common)
        censored = censored_days(products, served_on, int(period))
        if censored is not None:
            result.add(metric="censored_product_days", value=censored, **common)
    return result
