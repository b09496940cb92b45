"""What every scorer shares: which model version serves a partition, serving schemas,
logical timestamps.

``scored_at`` is derived from the run's logical time, never the wall clock, so
re-running a partition writes byte-identical rows: for daily tables it is the
as_of instant (``as_of_date`` 00:00), for hourly tables the end of the scored
hour (``as_of_hour + 1h``, the instant the hour's data is complete).

The model version is point-in-time (``tasks/score/serving_versions.py``): a partition
scored before is scored again with the version recorded for it, not with today's
champion, unless the caller asks for ``rescore``. ``write_serving`` records the version
in the same transaction as the rows.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from tasks.score import serving_versions
from tasks.score.pipeline import SCORER_MODEL
from tasks.score.schema import SERVING_TABLES, check_table
from tasks.train.common import Artefact, as_of_instant, load_artefact
from tasks.train.registry import RegistryEntry, champion, version_entry
from tasks.warehouse import connect, replace_partition

log = logging.getLogger(__name__)

# Column order and SQL types of the serving tables, from their one declaration
# (tasks/score/schema.py; docs/serving_schema.md is generated from it).
SERVING_SCHEMAS: dict[str, dict[str, str]] = {t.qualified: t.sql_types for t in SERVING_TABLES.values()}


class NoChampionError(RuntimeError):
    """Scoring was asked for a model that has never been trained and promoted."""


def scorer_of(table: str) -> str:
    """``serving.<scorer>`` -> ``<scorer>`` (the serving table is named after its scorer)."""
    scorer = table.split(".", 1)[1]
    if scorer not in SCORER_MODEL:
        raise ValueError(f"{table} is not a scorer's serving table; known: {sorted(SCORER_MODEL)}")
    return scorer


def serving_version(table: str, as_of: date | datetime, *, rescore: bool) -> str | None:
    """The version that must score ``table``'s partition at ``as_of``: the one recorded for the
    partition (point-in-time), or the model's current champion when the partition was never
    scored or ``rescore`` is asked for; None when neither exists."""
    scorer = scorer_of(table)
    partition = serving_versions.partition_of(as_of)
    if not rescore:
        recorded = serving_versions.recorded_version(scorer, partition)
        if recorded is not None:
            log.info("%s %s: scoring with %s, the version that served it (point-in-time; "
                     "re-score explicitly to use the champion)", scorer, partition.label, recorded)
            return recorded
    entry = champion(SCORER_MODEL[scorer])
    return None if entry is None else entry.version


def load_serving_model(table: str, as_of: date | datetime, *, rescore: bool) -> tuple[RegistryEntry, Artefact]:
    """The registry row and artefact of ``serving_version``; a clear error when there is none."""
    model = SCORER_MODEL[scorer_of(table)]
    version = serving_version(table, as_of, rescore=rescore)
    if version is None:
        raise NoChampionError(
            f"no champion for {model!r} in ml.model_registry: run ecomflow_daily first to train {model}"
        )
    entry = version_entry(model, version)
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


def write_serving(table: str, frame: pd.DataFrame, partition: dict[str, Any], *, model_version: str,
                  run_id: str) -> int:
    """Replace one partition of a serving table with ``frame`` (checked against and cast to
    the declaration in ``tasks/score/schema.py``: exact columns, fixed types even when the
    frame is empty, no null where none is allowed) and record ``model_version`` as the version that
    served it, in one transaction. Returns rows written.

    The checked rows are an Arrow table in the declared types, built column by column in C
    (``check_table``): DuckDB inserts from it without converting Python objects and
    PostgreSQL's COPY gets its CSV from it, 2-3x faster than typing and scanning the pandas frame
    (benchmarks/warehouse_writes.py)."""
    schema = SERVING_SCHEMAS[table]
    out = check_table(table, frame)  # declared columns, order and types; names table and column
    as_of = partition.get("as_of_hour", partition.get("as_of_date"))
    scorer = scorer_of(table)
    with connect() as conn:
        n = replace_partition(table, out, partition, column_types=schema, conn=conn)
        serving_versions.record(scorer, SCORER_MODEL[scorer], serving_versions.partition_of(as_of),
                                model_version, run_id, conn)
    log.info("%s %s: wrote %d rows", table, partition, n)
    return n
