"""Writing the monitoring tables (declared in ``tasks/contracts/operations_schema.py``).

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

from tasks.contracts import operations_schema
from tasks.warehouse import replace_partition

log = logging.getLogger(__name__)

PIPELINE_RUNS = "monitoring.pipeline_runs"
REALISED_METRICS = "monitoring.realised_metrics"
FEATURE_DRIFT = "monitoring.feature_drift"
PREDICTION_DRIFT = "monitoring.prediction_drift"
REFERENCE_PROFILES = "monitoring.reference_profiles"

# Column order and SQL types, declared (with nullability, grain and descriptions) in
# tasks/contracts/operations_schema.py; docs/operations_schema.md is generated from it.
SCHEMAS: dict[str, dict[str, str]] = {
    name: operations_schema.sql_types(name)
    for name in (PIPELINE_RUNS, REALISED_METRICS, FEATURE_DRIFT, PREDICTION_DRIFT, REFERENCE_PROFILES)
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
