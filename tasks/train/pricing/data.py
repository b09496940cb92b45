"""Warehouse reads: sales history, categories, shown prices and (when a source has one) unit cost.

Point in time: sales come from the ``features.daily_item_sales`` partition valid at
``as_of_date`` (plus the mart history before it, as the forecaster reads them); price changes
only with ``valid_from`` before the as-of instant.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from tasks.train.common import as_of_instant
from tasks.train.demand_forecaster.data import read_categories, read_sales
from tasks.train.pricing.config import COST_COLUMNS, PRICES_TABLE
from tasks.train.pricing.panel import PricePanel, daily_prices, to_price_panel


def read_price_changes(as_of_date: date) -> pd.DataFrame:
    """``raw.prices`` rows published before ``as_of_date`` 00:00 (empty when the source has none)."""
    from tasks.warehouse import qualified, read_frame, table_exists

    if not table_exists(PRICES_TABLE):
        return pd.DataFrame(columns=["product_id", "price", "is_promo", "valid_from"])
    return read_frame(f"SELECT product_id, price, is_promo, valid_from FROM {qualified(PRICES_TABLE)} "
                      "WHERE valid_from < :t", {"t": as_of_instant(as_of_date)})


def read_costs() -> dict[str, float]:
    """product -> unit cost from ``raw.products`` when it has a cost column; else empty (no margin floor)."""
    from tasks.warehouse import qualified, read_frame, table_exists

    if not table_exists("raw.products"):
        return {}
    columns = set(read_frame(f"SELECT * FROM {qualified('raw.products')} LIMIT 0").columns)
    column = next((c for c in COST_COLUMNS if c in columns), None)
    if column is None:
        return {}
    frame = read_frame(f"SELECT product_id, {column} AS cost FROM {qualified('raw.products')} "
                       f"WHERE {column} IS NOT NULL")
    return dict(zip(frame["product_id"].astype(str), frame["cost"].astype(float), strict=True))


def read_panel(as_of_date: date, max_history_days: int) -> tuple[PricePanel | None, date | None, pd.DataFrame]:
    """(panel, feature partition date, the sales rows) as of ``as_of_date``; None when no sales."""
    sales, found = read_sales(as_of_date, max_history_days)
    if found is None or sales.empty:
        return None, found, sales
    if "store_id" in sales.columns:  # store-level history: pricing is per product, sum the stores
        sales = sales.groupby(["product_id", "sales_date"], as_index=False).agg(
            units=("units", "sum"), avg_price=("avg_price", "mean"), is_promo=("is_promo", "max"))
    dates = pd.to_datetime(sales["sales_date"]).dt.date
    changes = read_price_changes(as_of_date)
    shown = daily_prices(changes, dates.min(), dates.max()) if not changes.empty else None
    panel = to_price_panel(sales, read_categories(found), shown, read_costs())
    return panel, found, sales
