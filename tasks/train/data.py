"""Reading model inputs (``features.*`` and ``marts.*``) from the warehouse.

Only these helpers know table names and partition columns, so recipes and
scorers ask for "the daily partition valid at D" or "the rows of hour H"
instead of writing SQL. Values always travel as bound parameters.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import pandas as pd

from tasks.warehouse import qualified, read_frame, table_exists

log = logging.getLogger(__name__)


def latest_daily_partition(table: str, as_of_date: date) -> date | None:
    """The newest daily ``as_of_date`` of a feature table that is <= ``as_of_date``.

    Training on day D may use the feature set published for D or, when that
    run has not happened (gaps, backfills), the newest one before it; never a
    later one, which would leak the future into a backfill.
    """
    if not table_exists(table):
        return None
    frame = read_frame(
        f"SELECT MAX(as_of_date) AS d FROM {qualified(table)} "
        "WHERE as_of_date <= :d AND as_of_hour IS NULL",
        {"d": as_of_date},
    )
    value = frame["d"].iloc[0] if not frame.empty else None
    if value is None or pd.isna(value):
        return None
    value = pd.Timestamp(value).date()
    if value != as_of_date:
        log.warning("%s: no partition for %s; using the newest earlier one (%s)", table, as_of_date, value)
    return value


def read_daily_features(table: str, as_of_date: date) -> tuple[pd.DataFrame, date | None]:
    """Rows of the daily partition valid at ``as_of_date`` (empty frame when none)."""
    found = latest_daily_partition(table, as_of_date)
    if found is None:
        return pd.DataFrame(), None
    frame = read_frame(
        f"SELECT * FROM {qualified(table)} WHERE as_of_date = :d AND as_of_hour IS NULL", {"d": found}
    )
    return frame, found


def read_hourly_features(table: str, as_of_hour: datetime) -> pd.DataFrame:
    """Rows of the hourly partition ``as_of_hour`` (the hour's start), empty when absent."""
    if not table_exists(table):
        return pd.DataFrame()
    return read_frame(f"SELECT * FROM {qualified(table)} WHERE as_of_hour = :h", {"h": as_of_hour})


def read_interactions(start: datetime, end: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Product events (view/cart/purchase) and non-cancelled order lines in ``[start, end)``.

    Either frame is empty when its mart does not exist or has no rows (e.g. the
    UCI Online Retail source has order lines but no clickstream).
    """
    events = pd.DataFrame(columns=["user_id", "product_id", "event_type", "event_at"])
    lines = pd.DataFrame(columns=["user_id", "product_id", "ordered_at"])
    if table_exists("marts.fct_events"):
        events = read_frame(
            "SELECT user_id, product_id, event_type, event_at FROM marts.fct_events "
            "WHERE event_at >= :s AND event_at < :e AND user_id IS NOT NULL "
            "AND product_id IS NOT NULL AND event_type IN ('view', 'cart', 'purchase')",
            {"s": start, "e": end},
        )
    if table_exists("marts.fct_order_lines"):
        lines = read_frame(
            "SELECT user_id, product_id, ordered_at FROM marts.fct_order_lines "
            "WHERE ordered_at >= :s AND ordered_at < :e AND user_id IS NOT NULL "
            "AND product_id IS NOT NULL AND NOT COALESCE(is_cancellation, FALSE)",
            {"s": start, "e": end},
        )
    return events, lines
