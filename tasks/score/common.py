"""What every scorer shares: champion lookup, serving schemas, logical timestamps.

``scored_at`` is derived from the run's logical time, never the wall clock, so
re-running a partition writes byte-identical rows: for daily tables it is the
as_of instant (``as_of_date`` 00:00), for hourly tables the end of the scored
hour (``as_of_hour + 1h``, the instant the hour's data is complete).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from tasks.train.common import Artefact, as_of_instant, load_artefact
from tasks.train.registry import RegistryEntry, champion
from tasks.warehouse import replace_partition

log = logging.getLogger(__name__)

_TAIL_DAILY = {"as_of_date": "DATE", "model_version": "TEXT", "run_id": "TEXT", "scored_at": "TIMESTAMP"}
_TAIL_HOURLY = {"as_of_date": "DATE", "as_of_hour": "TIMESTAMP", "model_version": "TEXT", "run_id": "TEXT",
                "scored_at": "TIMESTAMP"}

# Column order and SQL types of the serving tables (docs/CONTRACTS.md).
SERVING_SCHEMAS: dict[str, dict[str, str]] = {
    "serving.recommendations": {"user_id": "TEXT", "item_id": "TEXT", "rank": "BIGINT",
                                "score": "DOUBLE PRECISION", "strategy": "TEXT", **_TAIL_DAILY},
    "serving.demand_forecasts": {"item_id": "TEXT", "forecast_date": "DATE", "p10": "DOUBLE PRECISION",
                                 "p50": "DOUBLE PRECISION", "p90": "DOUBLE PRECISION",
                                 "price_p50": "DOUBLE PRECISION", **_TAIL_DAILY},
    "serving.session_intent": {"session_id": "TEXT", "user_id": "TEXT", "p_purchase": "DOUBLE PRECISION",
                               "intent": "TEXT", "threshold": "DOUBLE PRECISION", **_TAIL_HOURLY},
    "serving.risk_labels": {"transaction_id": "TEXT", "user_id": "TEXT", "risk_score": "DOUBLE PRECISION",
                            "label": "TEXT", "action": "TEXT", "reasons": "TEXT", **_TAIL_HOURLY},
}


class NoChampionError(RuntimeError):
    """Scoring was asked for a model that has never been trained and promoted."""


def load_champion(model: str) -> tuple[RegistryEntry, Artefact]:
    """The champion's registry row and artefact; a clear error when there is none."""
    entry = champion(model)
    if entry is None:
        raise NoChampionError(
            f"no champion for {model!r} in ml.model_registry: run ecomflow_daily first to train {model}"
        )
    return entry, load_artefact(entry.artefact_uri)


def daily_scored_at(as_of_date: date) -> datetime:
    return as_of_instant(as_of_date)


def check_hour(as_of_hour: datetime) -> datetime:
    """Hourly partitions are keyed by the hour's start; anything else is a caller bug."""
    if (as_of_hour.minute, as_of_hour.second, as_of_hour.microsecond) != (0, 0, 0) or as_of_hour.tzinfo:
        raise ValueError(f"as_of_hour must be a naive UTC hour start, got {as_of_hour!r}")
    return as_of_hour


def hourly_scored_at(as_of_hour: datetime) -> datetime:
    return as_of_hour + timedelta(hours=1)


def write_serving(table: str, frame: pd.DataFrame, partition: dict[str, Any]) -> int:
    """Replace one partition of a serving table with ``frame`` (exact contract columns,
    fixed types even when the frame is empty). Returns rows written."""
    schema = SERVING_SCHEMAS[table]
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"{table}: scorer produced no column(s) {missing}")
    out = frame[list(schema)].copy()
    for col, typ in schema.items():
        if typ == "TIMESTAMP":
            out[col] = pd.to_datetime(out[col])
        elif typ == "DOUBLE PRECISION":
            out[col] = pd.to_numeric(out[col]).astype(float)
        elif typ == "BIGINT":
            out[col] = pd.to_numeric(out[col]).astype("int64")
        elif typ == "TEXT":
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    out = out.reset_index(drop=True)
    n = replace_partition(table, out, partition, column_types=schema)
    log.info("%s %s: wrote %d rows", table, partition, n)
    return n
