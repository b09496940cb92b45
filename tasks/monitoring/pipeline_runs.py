"""``monitoring.pipeline_runs``: rows in/out, quarantined share and duration per task and partition.

Why a table of its own: the counts already exist, but scattered — ``audit.load_log`` has
ingestion's rows in/accepted/quarantined, every operator returns its own summary to XCom
(a list of ``LoadResult`` dicts, a row count, a training summary) and Airflow's metadata DB
has durations. None of that is in the warehouse next to the data, in one shape, where a
threshold ("quarantine share rising", "scoring wrote 0 rows") can be checked with SQL.

One row per (task, dt, hr); a retry or re-run of the task replaces its row.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd

from tasks.contracts import operations_schema
from tasks.monitoring.tables import PIPELINE_RUNS, SCHEMAS, write_partition
from tasks.partitions import Partition
from tasks.warehouse import read_frame, table_exists

log = logging.getLogger(__name__)

STATUSES = operations_schema.RUN_STATUSES  # success | skipped | failed


def record_task_run(task: str, partition: Partition, rows_in: int | None, rows_out: int | None,
                    quarantined: int | None, seconds: float, *, status: str = "success",
                    run_id: str | None = None) -> int:
    """Write (replace) the row of ``task`` for ``partition``; counts a task does not know are None.

    ``quarantined_share`` is ``quarantined / rows_in`` (null without rows in), the figure the
    ingestion gate compares with ``ECOMFLOW_QUARANTINE_MAX_SHARE``.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    if not task:
        raise ValueError("task must be a non-empty task id")
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"{task} {partition.label}: duration must be finite and >= 0, got {seconds!r}")
    share = None if not rows_in or quarantined is None else quarantined / rows_in
    row = pd.DataFrame([{
        "task": task, "dt": partition.dt, "hr": partition.hr, "status": status, "rows_in": rows_in,
        "rows_out": rows_out, "quarantined": quarantined, "quarantined_share": share,
        "duration_s": float(seconds), "run_id": run_id,
    }])
    return write_partition(PIPELINE_RUNS, row, {"task": task, "dt": partition.dt, "hr": partition.hr})


def read_task_runs(task: str | None = None, first: date | None = None, last: date | None = None) -> pd.DataFrame:
    """Rows of ``monitoring.pipeline_runs`` (optionally one task, days ``[first, last]``), oldest
    first; an empty frame before anything was recorded."""
    if not table_exists(PIPELINE_RUNS):
        return pd.DataFrame(columns=list(SCHEMAS[PIPELINE_RUNS]))
    clauses, params = ["1 = 1"], {}
    if task is not None:
        clauses.append("task = :task")
        params["task"] = task
    if first is not None:
        clauses.append("dt >= :first")
        params["first"] = first
    if last is not None:
        clauses.append("dt <= :last")
        params["last"] = last
    return read_frame(f"SELECT * FROM monitoring.pipeline_runs WHERE {' AND '.join(clauses)} "
                      "ORDER BY dt, hr NULLS FIRST, task", params)


def counts_from_result(result: Any) -> tuple[int | None, int | None, int | None]:
    """(rows_in, rows_out, quarantined) from what an operator returned, as far as it says.

    - an int (rows written by a scorer, a feature publish, segments) -> rows out;
    - ingestion's ``LoadResult`` dicts (one per entity) -> summed ``rows_in``,
      ``rows_accepted`` and ``rows_quarantined``;
    - a mapping with any of those keys (or ``rows``/``rows_written``) -> those;
    - anything else (GX summaries, training summaries) -> unknown (None).
    """
    if isinstance(result, bool):
        return None, None, None
    if isinstance(result, int):
        return None, result, None
    if isinstance(result, Mapping):
        result = [result]
    if isinstance(result, Sequence) and not isinstance(result, str | bytes):
        rows_in = rows_out = quarantined = None
        for item in result:
            if not isinstance(item, Mapping):
                return None, None, None
            got_in = item.get("rows_in")
            got_out = next((item[k] for k in ("rows_accepted", "rows_written", "rows") if k in item), None)
            got_q = item.get("rows_quarantined")
            if isinstance(got_in, int):
                rows_in = (rows_in or 0) + got_in
            if isinstance(got_out, int) and not isinstance(got_out, bool):
                rows_out = (rows_out or 0) + got_out
            if isinstance(got_q, int):
                quarantined = (quarantined or 0) + got_q
        return rows_in, rows_out, quarantined
    return None, None, None
