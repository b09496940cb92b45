"""Point-in-time serving: which model version served each partition (``ml.serving_versions``).

Why: a re-run of an old daily or hourly partition (an Airflow *Clear*, a backfill) used to
re-score it with today's champion, so re-running the past changed what had been served. Now
the first scoring of a partition records the version it used, in the same transaction as the
serving rows, and every later scoring of that partition uses the recorded version again, so a
re-run reproduces the served rows. Only an explicit re-score (``rescore=True``: retrain and
rollback, which say so in ``ml.promotion_log``) scores with the current champion and records it.

One row per (scorer, dt, hr) — the run's logical partition (``tasks/partitions.py``; ``hr`` is
NULL for daily scorers) — replaced when another version or run scores the partition, so the table
stays one row per partition. A re-run that changes nothing (same version, same run id: an Airflow
*Clear*) leaves the row as it is, ``recorded_at`` included, so a cleared run leaves the whole
warehouse byte-for-byte unchanged (tests/e2e compare every table).
``model_version`` is the registry version, or a rule set's label when no model served (the risk
scorer's ``rules-v1``).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from tasks.contracts import operations_schema
from tasks.partitions import Partition
from tasks.warehouse import read_frame, replace_partition, table_columns, table_exists

log = logging.getLogger(__name__)

TABLE = "ml.serving_versions"
TYPES = operations_schema.sql_types(TABLE)  # declared in tasks/contracts/operations_schema.py


def partition_of(as_of: date | datetime) -> Partition:
    """The logical partition a scorer's ``as_of`` belongs to.

    Hourly scorers get the hour's start (a ``datetime``); daily scorers the day after the
    partition (``as_of_date = dt + 1``, tasks/score/pipeline.py).
    """
    if isinstance(as_of, datetime):
        return Partition(as_of.date(), as_of.hour)
    return Partition(as_of - timedelta(days=1))


def _key(scorer: str, partition: Partition) -> dict[str, object]:
    return {"scorer": scorer, "dt": partition.dt, "hr": partition.hr}


def _recorded(scorer: str, partition: Partition, conn: sa.Connection | None = None) -> pd.DataFrame:
    hour = "hr IS NULL" if partition.hr is None else "hr = :hr"
    sql = f"SELECT model_version, run_id FROM {TABLE} WHERE scorer = :s AND dt = :dt AND {hour}"
    params = {"s": scorer, "dt": partition.dt, "hr": partition.hr}
    if conn is None:
        found = read_frame(sql, params) if table_exists(TABLE) else pd.DataFrame()
    elif table_columns(conn, TABLE) is None:
        found = pd.DataFrame()
    else:
        result = conn.execute(sa.text(sql), params)
        found = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    if len(found) > 1:  # cannot happen through record(): one replace per partition
        raise RuntimeError(f"{TABLE}: {len(found)} rows for {scorer} {partition.label}")
    return found


def recorded_version(scorer: str, partition: Partition) -> str | None:
    """The version that served ``scorer``'s ``partition``, or None when it was never scored."""
    found = _recorded(scorer, partition)
    return None if found.empty else str(found["model_version"].iloc[0])


def record(scorer: str, model: str, partition: Partition, model_version: str, run_id: str,
           conn: sa.Connection) -> None:
    """Record (replace) the version that served ``partition``, inside the caller's transaction;
    nothing is written when the row already says this version and run (module docstring)."""
    found = _recorded(scorer, partition, conn)
    if not found.empty and (found["model_version"].iloc[0], found["run_id"].iloc[0]) == (model_version, run_id):
        return
    row = pd.DataFrame([{**_key(scorer, partition), "model": model, "model_version": model_version,
                         "run_id": run_id, "recorded_at": datetime.now(UTC).replace(tzinfo=None)}])
    row["hr"] = row["hr"].astype("Int64")
    row["dt"] = pd.to_datetime(row["dt"]).dt.date
    replace_partition(TABLE, row[list(TYPES)], _key(scorer, partition), column_types=TYPES, conn=conn)
    log.info("%s %s served by %s (run %s)", scorer, partition.label, model_version, run_id)
