"""Warehouse reads: the sales history, item categories and the optional events calendar.

Point in time: every read is bounded by the feature partition valid at ``as_of_date``.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import numpy as np
import pandas as pd

from tasks.train.data import read_daily_features
from tasks.train.demand_forecaster.config import CALENDAR_TABLES, FEATURE_TABLE, HISTORY_TABLE, ITEM_TABLE
from tasks.train.demand_forecaster.panel import _location_column

log = logging.getLogger(__name__)


def read_sales(as_of_date: date, max_history_days: int) -> tuple[pd.DataFrame, date | None]:
    """Sales rows for the forecaster and the feature partition date they are valid at.

    The ``features.daily_item_sales`` partition holds only its 90-day window (so a daily
    feature run stays cheap); the forecaster needs the long history for yearly seasonality
    and weekly/monthly grains, so days before that window come from the sparse
    ``marts.fct_daily_item_sales`` (``sales_date`` < the partition date: point in time).
    When the mart has more than one store the feature table's store-summed series would
    hide the store dimension, so the store-level mart rows are used alone, with one zero
    row on the partition's last day so the series end where the feature window ends.
    """
    from tasks.warehouse import read_frame, table_exists

    recent, found = read_daily_features(FEATURE_TABLE, as_of_date)
    if found is None or recent.empty or not table_exists(HISTORY_TABLE):
        return recent, found
    history = read_frame(
        f"SELECT product_id, store_id, sales_date, units, avg_price, is_promo FROM {HISTORY_TABLE} "
        "WHERE sales_date >= :s AND sales_date < :e",
        {"s": found - timedelta(days=max_history_days), "e": found})
    if history.empty:
        return recent, found
    history["sales_date"] = pd.to_datetime(history["sales_date"]).dt.date
    recent = recent.assign(sales_date=pd.to_datetime(recent["sales_date"]).dt.date)
    last_day = found - timedelta(days=1)
    if _location_column(history) is not None:
        if history["sales_date"].max() < last_day:
            pad = history.iloc[[0]].assign(sales_date=last_day, units=0.0, avg_price=np.nan, is_promo=False)
            history = pd.concat([history, pad], ignore_index=True)
        log.info("demand_forecaster: %d store-level sales rows from %s (%s .. %s)", len(history),
                 HISTORY_TABLE, history["sales_date"].min(), last_day)
        return history, found
    window_start = recent["sales_date"].min()
    older = history.loc[history["sales_date"] < window_start].drop(columns="store_id")
    log.info("demand_forecaster: %d rows from %s before %s + %d rows of %s", len(older), HISTORY_TABLE,
             window_start, len(recent), FEATURE_TABLE)
    return pd.concat([older, recent], ignore_index=True), found


def read_categories(as_of_date: date) -> dict[str, str]:
    """product -> category from the ``item_features`` partition valid at ``as_of_date``."""
    items, _ = read_daily_features(ITEM_TABLE, as_of_date)
    if items.empty or "category" not in items.columns:
        return {}
    items = items.dropna(subset=["category"])
    return dict(zip(items["product_id"].astype(str), items["category"].astype(str), strict=True))


def read_calendar() -> pd.DataFrame | None:
    """The events calendar from the first existing ``CALENDAR_TABLES`` entry, or None
    (no calendar: the event inputs are zeros, which the model learns to ignore)."""
    from tasks.warehouse import qualified, read_frame, table_exists

    for table in CALENDAR_TABLES:
        try:
            if table_exists(table):
                frame = read_frame(f"SELECT * FROM {qualified(table)}")
                log.info("demand_forecaster: calendar from %s (%d rows)", table, len(frame))
                return frame
        except Exception:  # a malformed optional table must not stop forecasting
            log.exception("demand_forecaster: could not read calendar %s; continuing without", table)
    log.info("demand_forecaster: no calendar table (%s); no event inputs", ", ".join(CALENDAR_TABLES))
    return None
