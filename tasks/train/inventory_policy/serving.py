"""What scoring writes: one replenishment action per product for the as-of day.

Stock now = the latest snapshot's stock minus the units sold since that snapshot (floored at
0); on order = the snapshot's ``on_order``. Demand over the protection period comes from the
day's ``serving.demand_forecasts`` when the forecaster scored this product today (and the
config allows it), else from the policy's own trailing distribution; ``demand_source`` says
which. The holdout replay measured the own-distribution policy: the forecaster's quantiles
exist for one origin a day, so they cannot be replayed over past days (docs/inventory.md).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from tasks.replenishment import order_quantity
from tasks.train.inventory_policy.config import LEARNED, InventoryConfig
from tasks.train.inventory_policy.data import DemandHistory, Parameters
from tasks.train.inventory_policy.evaluation import PolicySpec, order_up_to
from tasks.train.inventory_policy.policy import (
    Demand,
    days_of_cover,
    demand_quantile,
    from_forecast_quantiles,
    p_stockout,
    reason_text,
    trailing_demand,
)

POLICY_LABELS = {"days_of_cover": "days-of-cover rule", "order_up_to_seasonal_naive": "seasonal-naive order-up-to"}


def current_stock(inventory: pd.DataFrame, demand: DemandHistory) -> tuple[np.ndarray, np.ndarray]:
    """(on hand, on order) per ``demand.products`` at the as-of instant."""
    inv = inventory.set_index("product_id").reindex(demand.products)
    stock = pd.to_numeric(inv["stock_quantity"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    on_order = pd.to_numeric(inv["on_order"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    snap = pd.to_datetime(inv["snapshot_at"]).dt.normalize()
    dates = pd.to_datetime(pd.Series(demand.dates)).to_numpy()
    since = dates[None, :] >= snap.to_numpy()[:, None]  # sales on or after the snapshot's day
    sold_since = (np.maximum(demand.units, 0.0) * since).sum(axis=1)
    return np.maximum(stock - sold_since, 0.0), np.maximum(on_order, 0.0)


def forecast_demand(forecasts: pd.DataFrame, products: list[str], protection: np.ndarray,
                    as_of_date: date) -> tuple[Demand, np.ndarray]:
    """Demand from the forecaster's daily quantiles from as_of_date on, and which products have them."""
    n = len(products)
    if forecasts.empty:
        return Demand(np.zeros(n), np.zeros(n)), np.zeros(n, dtype=bool)
    rows = forecasts[forecasts["forecast_date"] >= pd.Timestamp(as_of_date)]
    quantiles = {}
    for q in ("p10", "p50", "p90"):
        wide = rows.pivot_table(index="product_id", columns="forecast_date", values=q, aggfunc="sum")
        quantiles[q] = wide.reindex(index=products).sort_index(axis=1)
    has = quantiles["p50"].notna().any(axis=1).to_numpy()
    arrays = [quantiles[q].fillna(0.0).to_numpy(dtype=float) for q in ("p10", "p50", "p90")]
    if arrays[0].shape[1] == 0:
        return Demand(np.zeros(n), np.zeros(n)), np.zeros(n, dtype=bool)
    return from_forecast_quantiles(*arrays, protection), has


def actions(spec: PolicySpec, cfg: InventoryConfig, demand: DemandHistory, params: Parameters,
            inventory: pd.DataFrame, forecasts: pd.DataFrame, forecast_version: str | None,
            as_of_date: date) -> pd.DataFrame:
    """The rows of ``serving.inventory_actions`` (without run metadata), one per product."""
    protection = params.lead + cfg.review_days
    on_hand, on_order = current_stock(inventory, demand)
    position = on_hand + on_order
    own = trailing_demand(demand.units, protection, cfg.history_days,
                          params.category if cfg.shrink_to_category else None)
    use_forecast = np.zeros(len(demand.products), dtype=bool)
    dist = own
    if cfg.use_forecaster_quantiles and forecast_version is not None:
        fc, use_forecast = forecast_demand(forecasts, demand.products, protection, as_of_date)
        dist = Demand(np.where(use_forecast, fc.mean, own.mean), np.where(use_forecast, fc.var, own.var))
    levels = spec.service_levels(params.category)
    if spec.strategy == LEARNED:
        level = demand_quantile(dist, levels)
    else:
        level = order_up_to(spec, demand.units, params, cfg)
    quantity = order_quantity(level, position, params.pack, params.moq)
    p = p_stockout(dist, position)
    target = 1.0 - levels
    label = POLICY_LABELS.get(spec.strategy)
    reasons = [reason_text(p[i], target[i], protection[i], quantity[i], int(params.pack[i]), int(params.moq[i]),
                           gap=level[i] - position[i], policy=label, level=level[i])
               for i in range(len(demand.products))]
    source = np.where(use_forecast, f"demand_forecaster:{forecast_version}", "own_history")
    return pd.DataFrame({
        "product_id": demand.products,
        "category": [c or None for c in params.category],
        "stock_on_hand": on_hand, "on_order": on_order, "inventory_position": position,
        "lead_time_days": params.lead, "review_days": cfg.review_days, "protection_days": protection,
        "pack_size": params.pack, "moq": params.moq,
        "demand_mean": dist.mean, "demand_std": np.sqrt(np.maximum(dist.var, 0.0)),
        "service_level": levels, "safety_stock": level - dist.mean, "reorder_point": level,
        "order_quantity": quantity, "p_stockout": p,
        "days_of_cover": days_of_cover(on_hand, dist, protection),
        "action": np.where(quantity > 0, "order", "none"), "reason": reasons, "demand_source": source,
        "policy": spec.strategy,
    })
