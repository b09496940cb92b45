"""What a report reads: the monitoring tables, the registry and the served outputs with their truth.

The warehouse tables are the source of truth (``monitoring.*``, ``ml.model_registry``,
``serving.*``, the marts); the only files read are the artefacts' ``metrics.json`` (training
curves live there, not in the registry). The list of tables is read once per build, and a
table that does not exist reads as an empty frame, so a report of a young or partial warehouse says what is missing instead of
failing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tasks.warehouse import connect, read_frame

#: How far back the over-time charts and the curves of served outputs look.
LOOKBACK_DAYS = 28


@dataclass
class WarehouseReader:
    """``tables``: every ``schema.table`` that exists (listed once per build, not per read).

    Each read is its own short transaction (``read_frame``), not one connection held for the
    whole build: the truth look-ups the monitors already define (``session_outcomes``,
    ``fraud_labels``) open their own, and DuckDB's single writer (a task finishing next to the
    report) is never kept waiting on a report.
    """

    tables: set[str] = field(default_factory=set)

    def has(self, table: str) -> bool:
        return table in self.tables

    def frame(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return read_frame(sql, params or {})


def open_reader() -> WarehouseReader:
    with connect() as conn:
        rows = conn.execute(sa.text("SELECT table_schema, table_name FROM information_schema.tables")).fetchall()
    return WarehouseReader({f"{s}.{t}" for s, t in rows})


def _window(day: date) -> dict[str, date]:
    return {"first": day - timedelta(days=LOOKBACK_DAYS - 1), "day": day}


def monitoring_rows(reader: WarehouseReader, table: str, model: str, day: date) -> pd.DataFrame:
    """``table``'s rows of ``model`` for the monitoring days of the look-back window up to ``day``."""
    if not reader.has(table):
        return pd.DataFrame()
    return reader.frame(f"SELECT * FROM {table} WHERE model = :m AND dt BETWEEN :first AND :day",
                        {"m": model, **_window(day)})


def pipeline_runs(reader: WarehouseReader, day: date) -> pd.DataFrame:
    """The day's task runs (daily and hourly partitions of ``day``)."""
    if not reader.has("monitoring.pipeline_runs"):
        return pd.DataFrame()
    return reader.frame("SELECT task, hr, status, rows_in, rows_out, quarantined_share, duration_s "
                        "FROM monitoring.pipeline_runs WHERE dt = :d ORDER BY task, hr", {"d": day})


def registry(reader: WarehouseReader, model: str, day: date) -> pd.DataFrame:
    """The model's versions trained on data up to the end of ``day`` (the day's own training has
    ``data_end`` = the next midnight), newest first. By the data window, not ``trained_at``: that
    is the wall clock, and a replayed or back-filled day is trained long after it."""
    if not reader.has("ml.model_registry"):
        return pd.DataFrame()
    return reader.frame("SELECT version, status, trained_at, data_end, artefact_uri, metrics, baseline_metrics "
                        "FROM ml.model_registry WHERE model = :m AND (data_end IS NULL OR data_end <= :end) "
                        "ORDER BY data_end DESC, trained_at DESC, version DESC",
                        {"m": model, "end": pd.Timestamp(day + timedelta(days=1)).to_pydatetime()})


def served_version(reader: WarehouseReader, model: str, day: date) -> str | None:
    """The version that served ``model``'s partitions of ``day`` (``ml.serving_versions``: the
    daily partition, else the day's latest hour); None when nothing was recorded."""
    if not reader.has("ml.serving_versions"):
        return None
    rows = reader.frame("SELECT model_version FROM ml.serving_versions WHERE model = :m AND dt = :d "
                        "ORDER BY CASE WHEN hr IS NULL THEN 1 ELSE 0 END DESC, hr DESC", {"m": model, "d": day})
    return None if rows.empty else str(rows["model_version"].iloc[0])


def artefact_metrics(artefact_uri: str | None) -> dict[str, Any] | None:
    """The artefact's ``metrics.json`` (None when the folder or file is gone)."""
    if not artefact_uri:
        return None
    path = Path(str(artefact_uri).removeprefix("file://")) / "metrics.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def served_forecasts(reader: WarehouseReader, table: str, day: date) -> pd.DataFrame:
    """For each item and forecast date in ``[day - LOOKBACK + 1, ...)``: the newest forecast
    served on or before the day's own scoring (as_of_date <= day + 1)."""
    if not reader.has(table):
        return pd.DataFrame()
    frame = reader.frame(f"SELECT item_id, forecast_date, as_of_date, p10, p50, p90 FROM {table} "
                         "WHERE forecast_date >= :first AND as_of_date <= :served",
                         {"first": _window(day)["first"], "served": day + timedelta(days=1)})
    if frame.empty:
        return frame
    frame = frame.sort_values("as_of_date").drop_duplicates(["item_id", "forecast_date"], keep="last")
    return frame.assign(item_id=frame["item_id"].astype(str))


def realised_units(reader: WarehouseReader, items: pd.Series, day: date) -> pd.DataFrame:
    """item_id, sales_date, units for the window's days up to ``day`` (no mart row = 0 units),
    with the demand monitor's item -> product/store rule."""
    from tasks.monitoring.realised.demand_forecasts import SALES, daily_units, series_keys

    if not reader.has(SALES):
        return pd.DataFrame(columns=["item_id", "sales_date", "units"])
    window = _window(day)
    sales = reader.frame(f"SELECT product_id, store_id, sales_date, units FROM {SALES} "
                         "WHERE sales_date BETWEEN :first AND :day", window)
    days = [window["first"] + timedelta(days=i) for i in range(LOOKBACK_DAYS)]
    if sales.empty:
        return pd.DataFrame(columns=["item_id", "sales_date", "units"])
    units = daily_units(series_keys(items, sales), sales, days)
    long = units.stack().rename("units").reset_index()
    long.columns = ["item_id", "sales_date", "units"]
    return long


def served_scores(reader: WarehouseReader, table: str, id_column: str, score_column: str,
                  day: date) -> pd.DataFrame:
    """id, score, model_version of ``table`` served in the look-back window up to ``day``."""
    if not reader.has(table):
        return pd.DataFrame()
    return reader.frame(f"SELECT {id_column} AS id, {score_column} AS score, model_version FROM {table} "
                        "WHERE as_of_date BETWEEN :first AND :day", _window(day))
