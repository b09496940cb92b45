"""Map an Airflow run's partition onto each suite's partition columns and run the suites.

Used by ``GXCheckpointOperator``. Every suite of the task is run, and then one
``DataQualityError`` lists all that failed, so the on-call engineer sees the whole damage
from one task log instead of fixing failures one retry at a time.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from tasks.partitions import Partition
from tasks.quality.gx_runner import DataQualityError, SuiteResult, one_data_docs_build, run_suite
from tasks.quality.suites import load_suite_spec

log = logging.getLogger(__name__)

SCOPES = ("ingest", "as_of", "table")


def partition_values(suite_name: str, partition: Partition, scope: str) -> dict[str, Any] | None:
    """The suite's partition filter for this run (docs/CONTRACTS.md "Time and partitions").

    - ``ingest``: ``dt`` (and ``hr`` for an hourly run; a daily run covers all its hours).
    - ``as_of``: daily ``dt=D`` -> ``as_of_date = D+1``, ``as_of_hour IS NULL``;
      hourly ``dt=D/hr=H`` -> ``as_of_date = D``, ``as_of_hour = D H:00``.
    - ``table``: the whole table (marts are rebuilt whole by dbt).
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    spec = load_suite_spec(suite_name)
    if scope == "table" or not spec.partition_columns:
        return None
    day_column = spec.partition_columns[0]
    hour_column = spec.partition_columns[1] if len(spec.partition_columns) > 1 else None
    if scope == "ingest":
        values: dict[str, Any] = {day_column: partition.dt}
        if partition.is_hourly and hour_column:
            values[hour_column] = partition.hr
        return values
    if partition.is_hourly:
        values = {day_column: partition.dt}
        if hour_column:
            values[hour_column] = datetime(partition.dt.year, partition.dt.month, partition.dt.day, partition.hr)
        return values
    values = {day_column: partition.dt + timedelta(days=1)}
    if hour_column:
        values[hour_column] = None
    return values


def _summary(result: SuiteResult) -> dict[str, Any]:
    """JSON-able for XCom."""
    summary = asdict(result)
    summary["partition"] = {k: (None if v is None else str(v)) for k, v in result.partition.items()}
    summary["failures"] = [str(f) for f in result.failures]
    summary["data_docs_path"] = str(result.data_docs_path) if result.data_docs_path else None
    return summary


def data_docs_run_name(dag_id: str, partition: Partition) -> str:
    """``ecomflow_daily dt=2026-02-28`` / ``ecomflow_hourly dt=2026-02-28 hr=13``.

    The GX run name, so the Data Docs index says which DAG checked which partition (the
    Airflow run's, whatever the scope maps it to); GX adds the wall-clock run time.
    """
    hour = f" hr={partition.hr:02d}" if partition.is_hourly else ""
    return f"{dag_id} dt={partition.dt.isoformat()}{hour}"


def run_suites_for_partition(
    suites: list[str], partition: Partition, scope: str, *, dag_id: str = "ecomflow"
) -> list[dict[str, Any]]:
    """Run every suite on this run's partition; raise one DataQualityError naming all failures.

    ``dag_id`` goes into each checkpoint's run name (``data_docs_run_name``).
    """
    run_name = data_docs_run_name(dag_id, partition)
    summaries: list[dict[str, Any]] = []
    errors: list[DataQualityError] = []
    from tasks.applicability import suite_skip_reason

    with one_data_docs_build():  # the gate's pages and the index rendered once, not per suite
        for suite_name in suites:
            reason = suite_skip_reason(suite_name, partition.as_of)
            if reason:
                log.warning("suite %s not run: %s", suite_name, reason)
                summaries.append({"suite": suite_name, "skipped": reason})
                continue
            values = partition_values(suite_name, partition, scope)
            try:
                result = run_suite(suite_name, values, run_name=run_name)
            except DataQualityError as exc:
                log.error("%s", exc)  # its Data Docs page is rendered when the block ends
                errors.append(exc)
                result = exc.result
            summaries.append(_summary(result))
    if errors:
        failed = ", ".join(e.result.suite for e in errors)
        details = "\n\n".join(str(e) for e in errors)
        raise DataQualityError(
            f"{len(errors)} of {len(suites)} suites failed for {partition.label} ({failed}):\n\n{details}",
            errors[0].result,
        )
    return summaries
