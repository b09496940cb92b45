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
