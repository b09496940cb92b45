"""Planting helpers: write hand-made marts, feature and serving rows straight into the warehouse
(the shapes the dbt marts and scorers produce), so each test knows the answer in advance."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from tasks.warehouse import replace_partition

D = date(2026, 3, 10)  # the monitoring day used throughout


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour)


def plant(table: str, rows: list[dict] | pd.DataFrame) -> None:
    """Replace the whole table with ``rows``."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    replace_partition(table, frame, {})


def plant_recommendations(served_on: date, lists: dict[str, list[str]], version: str = "rec-v1") -> None:
    rows = [{"user_id": u, "item_id": item, "rank": r, "score": 1.0 / r, "strategy": "model",
             "as_of_date": served_on, "model_version": version, "run_id": "t", "scored_at": at(served_on, 0)}
            for u, items in lists.items() for r, item in enumerate(items, start=1)]
    replace_partition("serving.recommendations", pd.DataFrame(rows), {"as_of_date": served_on})


def plant_events(rows: list[tuple[str, str, str, datetime, str]]) -> None:
    """(user_id, product_id, event_type, event_at, session_id)."""
    plant("marts.fct_events", [
        {"event_id": f"e{i}", "session_id": s, "user_id": u, "event_type": t, "product_id": p,
         "event_at": ts, "event_date": ts.date()} for i, (u, p, t, ts, s) in enumerate(rows)])


def days(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]


# ---- the demand forecaster's inputs from a synthetic shop (the planted-drift stories) ----------
SALES_DAYS = 90  # tasks.features.windows.SALES_DAYS
NO_HOUR = {"as_of_hour": "TIMESTAMP"}


def daily_sales(shop) -> pd.DataFrame:  # noqa: ANN001
    """``marts.fct_daily_item_sales`` rows (without store/promo) from the shop's order lines."""
    lines = shop["order_lines"]
    lines = lines[~lines["is_cancellation"].astype(bool)]
    lines = lines.assign(sales_date=lines["ordered_at"].dt.date, revenue=lines["quantity"] * lines["unit_price"])
    daily = lines.groupby(["product_id", "sales_date"], as_index=False).agg(
        units=("quantity", "sum"), revenue=("revenue", "sum"), n_orders=("order_id", "nunique"))
    return daily.assign(units=daily["units"].astype(float), avg_price=daily["revenue"] / daily["units"])


def plant_forecaster_features(daily: pd.DataFrame, categories: pd.DataFrame, as_of: date) -> None:
    """The ``as_of`` partitions the Spark jobs would write: dense daily sales, item categories."""
    window_days = [as_of - timedelta(days=SALES_DAYS - i) for i in range(SALES_DAYS)]
    window = daily[(daily["sales_date"] >= window_days[0]) & (daily["sales_date"] < as_of)]
    grid = pd.MultiIndex.from_product([sorted(window["product_id"].unique()), window_days],
                                      names=["product_id", "sales_date"]).to_frame(index=False)
    dense = grid.merge(window, how="left", on=["product_id", "sales_date"])
    dense = dense.fillna({"units": 0.0, "revenue": 0.0, "n_orders": 0}).assign(is_promo=False)
    no_hour = pd.Series([None] * len(dense), dtype="datetime64[ns]")
    replace_partition("features.daily_item_sales", dense.assign(as_of_date=as_of, as_of_hour=no_hour),
                      {"as_of_date": as_of, "as_of_hour": None}, column_types=NO_HOUR)
    items = categories.assign(as_of_date=as_of, as_of_hour=pd.Series([None] * len(categories), dtype="datetime64[ns]"))
    replace_partition("features.item_features", items, {"as_of_date": as_of, "as_of_hour": None},
                      column_types=NO_HOUR)
