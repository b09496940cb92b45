"""Warehouse reads: daily demand per product, the replenishment parameters and the stock
state from ``raw.inventory``, categories, and the day's demand forecasts.

Point in time: sales come from the ``features.daily_item_sales`` partition valid at
``as_of_date`` (and the marts history before it, through the forecaster's ``read_sales``);
inventory rows are those with ``snapshot_at`` before the as-of instant.

Demand is product-level: ``raw.inventory`` has no location, so store-level sales are summed
per product. Sales are the demand the replay serves; on real data sales on stock-out days
are censored (what could not be sold was never recorded), which the evaluation cannot undo.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from tasks.train.common import as_of_instant
from tasks.train.demand_forecaster import detect_grain, read_categories, read_sales
from tasks.train.inventory_policy.config import FORECAST_TABLE, INVENTORY_TABLE, InventoryConfig

log = logging.getLogger(__name__)

OPTIONAL_COLUMNS = ("on_order", "lead_time_days", "pack_size", "moq")


@dataclass(frozen=True)
class DemandHistory:
    """Daily units per product (rows) and day (columns, consecutive, last = as_of - 1)."""

    products: list[str]
    dates: list[date]
    units: np.ndarray


class NotApplicable(ValueError):
    """The data cannot support the policy (the reason is the message)."""


def demand_history(sales: pd.DataFrame, last_day: date | None = None) -> DemandHistory:
    """Pivot sales rows into products x consecutive days (missing days = 0; locations summed)."""
    if sales.empty:
        raise NotApplicable("no daily sales rows")
    frame = sales.assign(sales_date=pd.to_datetime(sales["sales_date"]),
                         units=pd.to_numeric(sales["units"], errors="coerce").fillna(0.0))
    grain = detect_grain(frame["sales_date"], frame["units"])
    if grain != "daily":
        raise NotApplicable(f"sales are {grain}, not daily: a daily replenishment policy needs daily sales")
    first = frame["sales_date"].min().normalize()
    end = pd.Timestamp(last_day) if last_day is not None else frame["sales_date"].max().normalize()
    days = pd.date_range(first, end, freq="D")
    wide = frame.pivot_table(index=frame["product_id"].astype(str), columns="sales_date", values="units",
                             aggfunc="sum").reindex(columns=days, fill_value=0.0).fillna(0.0)
    return DemandHistory(list(wide.index), [d.date() for d in days], wide.to_numpy(dtype=float))


def read_demand(as_of_date: date, cfg: InventoryConfig) -> tuple[DemandHistory, date]:
    """Daily demand up to the day before the feature partition date (raises NotApplicable)."""
    sales, found = read_sales(as_of_date, max(cfg.history_days + 2 * cfg.holdout_days + 7, 120))
    if found is None or sales.empty:
        raise NotApplicable(f"no features.daily_item_sales partition at or before {as_of_date}")
    return demand_history(sales, found - timedelta(days=1)), found


def read_inventory(as_of_date: date) -> pd.DataFrame:
    """Latest snapshot per product before the as-of instant: product_id, stock_quantity,
    snapshot_at and the optional columns (null where the source has none)."""
    from tasks.warehouse import connect, qualified, read_frame, table_columns

    with connect() as conn:
        columns = table_columns(conn, INVENTORY_TABLE) or []
    if not columns:
        return pd.DataFrame(columns=["product_id", "stock_quantity", "snapshot_at", *OPTIONAL_COLUMNS])
    optional = ", ".join(f"i.{c}" if c in columns else f"CAST(NULL AS BIGINT) AS {c}" for c in OPTIONAL_COLUMNS)
    table = qualified(INVENTORY_TABLE)
    frame = read_frame(
        f"SELECT i.product_id, i.stock_quantity, i.snapshot_at, {optional} FROM {table} AS i "
        f"JOIN (SELECT product_id, MAX(snapshot_at) AS last_at FROM {table} WHERE snapshot_at < :t "
        "GROUP BY product_id) AS latest ON i.product_id = latest.product_id AND i.snapshot_at = latest.last_at",
        {"t": as_of_instant(as_of_date)})
    frame["product_id"] = frame["product_id"].astype(str)
    return frame.drop_duplicates("product_id", keep="last").sort_values("product_id").reset_index(drop=True)


def read_forecasts(as_of_date: date) -> tuple[pd.DataFrame, str | None]:
    """The day's ``serving.demand_forecasts`` rows (product_id, forecast_date, p10/p50/p90) and
    the forecaster version that wrote them; empty when the forecaster has not scored the day."""
    from tasks.warehouse import read_frame, table_exists

    if not table_exists(FORECAST_TABLE):
        return pd.DataFrame(), None
    frame = read_frame(f"SELECT item_id, forecast_date, p10, p50, p90, model_version FROM {FORECAST_TABLE} "
                       "WHERE as_of_date = :d", {"d": as_of_date})
    if frame.empty:
        return frame, None
    version = str(frame["model_version"].max())
    # A store-level series key is product@location; the policy is per product.
    frame["product_id"] = frame["item_id"].astype(str).str.split("@", n=1).str[0]
    frame["forecast_date"] = pd.to_datetime(frame["forecast_date"])
    return frame.groupby(["product_id", "forecast_date"], as_index=False)[["p10", "p50", "p90"]].sum(), version


@dataclass(frozen=True)
class Parameters:
    """Per product replenishment parameters aligned with ``DemandHistory.products``."""

    lead: np.ndarray
    pack: np.ndarray
    moq: np.ndarray
    category: np.ndarray
    has_inventory: np.ndarray  # the product has a snapshot


def parameters(products: list[str], inventory: pd.DataFrame, categories: dict[str, str],
               cfg: InventoryConfig) -> Parameters:
    """Lead time, pack, MOQ (config defaults where the source has none) and category per product."""
    inv = inventory.set_index("product_id").reindex(products)

    def column(name: str, default: int, low: int) -> np.ndarray:
        values = pd.to_numeric(inv[name], errors="coerce") if name in inv.columns else pd.Series(np.nan, index=inv.index)
        return np.maximum(values.fillna(default).to_numpy(dtype=float), low).astype(int)

    return Parameters(
        lead=column("lead_time_days", cfg.default_lead_time_days, 1),
        pack=column("pack_size", cfg.default_pack_size, 1),
        moq=column("moq", cfg.default_moq, 0),
        category=np.array([categories.get(p, "") for p in products], dtype=object),
        has_inventory=inv["stock_quantity"].notna().to_numpy() if "stock_quantity" in inv.columns
        else np.zeros(len(products), dtype=bool),
    )


__all__ = ["DemandHistory", "NotApplicable", "OPTIONAL_COLUMNS", "Parameters", "demand_history", "parameters",
           "read_categories", "read_demand", "read_forecasts", "read_inventory"]
