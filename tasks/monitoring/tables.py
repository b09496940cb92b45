"""The monitoring tables: their columns, SQL types and partition keys, declared once.

Every writer in ``tasks.monitoring`` goes through ``write_partition``, which keeps exactly
the declared columns in the declared order and types (also for an empty frame, so a
partition with nothing to report still creates the table with the right types) and
replaces the partition with ``tasks.warehouse.replace_partition``: a re-run of a day
deletes that day's rows and writes the new ones in one transaction, never appending.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from tasks.warehouse import replace_partition

log = logging.getLogger(__name__)

PIPELINE_RUNS = "monitoring.pipeline_runs"
REALISED_METRICS = "monitoring.realised_metrics"
FEATURE_DRIFT = "monitoring.feature_drift"
PREDICTION_DRIFT = "monitoring.prediction_drift"
REFERENCE_PROFILES = "monitoring.reference_profiles"

_DRIFT_COLUMNS = {
    "dt": "DATE",                      # the monitoring partition (the Airflow run's day)
    "model": "TEXT",
    "model_version": "TEXT",
    "source_table": "TEXT",            # where the current values were read
    "column_name": "TEXT",
    "column_kind": "TEXT",             # numeric | categorical
    "psi": "DOUBLE PRECISION",         # population stability index over the reference bins
    "js_distance": "DOUBLE PRECISION",  # Jensen-Shannon distance (base 2, 0..1)
    "null_share": "DOUBLE PRECISION",
    "reference_null_share": "DOUBLE PRECISION",
    "unseen_share": "DOUBLE PRECISION",  # categorical: share of values the reference never had
    "n_rows": "BIGINT",
    "reference_rows": "BIGINT",
}

# Column order and SQL types (one declaration per fact; docs/monitoring.md describes them).
SCHEMAS: dict[str, dict[str, str]] = {
    PIPELINE_RUNS: {
        "task": "TEXT", "dt": "DATE", "hr": "BIGINT",
        "status": "TEXT",  # success | skipped | failed
        "rows_in": "BIGINT", "rows_out": "BIGINT", "quarantined": "BIGINT",
        "quarantined_share": "DOUBLE PRECISION", "duration_s": "DOUBLE PRECISION", "run_id": "TEXT",
    },
    REALISED_METRICS: {
        "dt": "DATE", "model": "TEXT", "model_version": "TEXT",
        "output_table": "TEXT",
        "output_as_of_date": "DATE",       # the served partition that was scored (its day for hourly outputs)
        "metric": "TEXT",
        "horizon_days": "BIGINT",          # forecasts: forecast_date - as_of_date; null otherwise
        "value": "DOUBLE PRECISION",
        "n_rows": "BIGINT",                # rows (users, sessions, series, payments) the value is over
        "truth_through": "TIMESTAMP",      # the truth window's end: nothing after it was used
    },
    FEATURE_DRIFT: _DRIFT_COLUMNS,
    PREDICTION_DRIFT: _DRIFT_COLUMNS,
    REFERENCE_PROFILES: {
        "model": "TEXT", "model_version": "TEXT",
        "profile_kind": "TEXT",            # input | output
        "source_table": "TEXT", "column_name": "TEXT", "column_kind": "TEXT",
        "bin": "BIGINT",                   # numeric: bin number; categorical: category order
        "lower": "DOUBLE PRECISION", "upper": "DOUBLE PRECISION",  # numeric bin edges [lower, upper)
        "category": "TEXT",
        "share": "DOUBLE PRECISION",       # share of the non-null reference values in this bin/category
        "null_share": "DOUBLE PRECISION", "n_rows": "BIGINT",
        "reference_as_of_date": "DATE",    # the partition the profile was computed from
    },
}


def empty_frame(table: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in SCHEMAS[table]})


def conform(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with exactly ``table``'s columns, in order, with its types (missing -> null)."""
    schema = SCHEMAS[table]
    out = pd.DataFrame(index=frame.index)
    for col, typ in schema.items():
        values = frame[col] if col in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        if typ == "DOUBLE PRECISION":
            out[col] = pd.to_numeric(values, errors="raise").astype(float)
        elif typ == "BIGINT":
            out[col] = pd.to_numeric(values, errors="raise").astype("Int64")
        elif typ == "TIMESTAMP":
            out[col] = pd.to_datetime(values)
        elif typ == "DATE":
            out[col] = pd.to_datetime(values).dt.date.astype(object).where(values.notna(), None)
        else:
            out[col] = values.astype(object).where(values.notna(), None)
    return out.reset_index(drop=True)


def write_partition(table: str, frame: pd.DataFrame, partition: Mapping[str, Any]) -> int:
    """Replace ``partition`` of ``table`` with ``frame`` (declared columns and types); rows written."""
    out = conform(table, frame)
    n = replace_partition(table, out, dict(partition), column_types=SCHEMAS[table])
    log.info("%s %s: wrote %d rows", table, dict(partition), n)
    return n
