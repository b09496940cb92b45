"""Ingest one partition of one source into the landing zone, the lake and ``raw.*``.

Flow per (entity, partition):
  source.read -> hash PII -> lake/landing (as received) -> validate ->
  lake/raw (accepted, canonical types) -> raw.<entity> (partition replace) ->
  audit.quarantine (rejected rows with reasons) -> audit.load_log (reconciliation)

Invariant: rows_in = rows_accepted + rows_quarantined for every load. If the
quarantined share exceeds ``settings.quarantine_max_share`` the partition is
not published and the task fails loudly (the audit rows are still written so
the engineer can see why).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from tasks import lake
from tasks.ingest.pii import hash_pii_columns
from tasks.ingest.schema import ENTITIES, Entity
from tasks.ingest.schema import entity as get_entity
from tasks.ingest.sources import get_source
from tasks.ingest.sources.base import Source
from tasks.ingest.validate import LINEAGE_COLUMNS, validate_partition
from tasks.partitions import Partition
from tasks.settings import get_settings
from tasks.warehouse import connect, ensure_schema, qualified, quote_ident, replace_partition

log = logging.getLogger(__name__)

SQL_TYPES = {
    "string": "TEXT",
    "int": "BIGINT",
    "float": "DOUBLE PRECISION",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
}
PARTITION_COLUMNS = {"dt": "DATE", "hr": "INTEGER", "_source": "TEXT"}
QUARANTINE_COLUMNS = {
    "source": "TEXT", "entity": "TEXT", "dt": "DATE", "hr": "INTEGER",
    "source_file": "TEXT", "source_row": "BIGINT", "reason": "TEXT",
    "payload": "TEXT", "run_id": "TEXT",
}
LOAD_LOG_COLUMNS = {
    "run_id": "TEXT", "source": "TEXT", "entity": "TEXT", "dt": "DATE", "hr": "INTEGER",
    "rows_in": "BIGINT", "rows_accepted": "BIGINT", "rows_quarantined": "BIGINT", "status": "TEXT",
}


class QuarantineThresholdExceeded(RuntimeError):
    """Too many rows of a partition were rejected to publish it."""


@dataclass
class LoadResult:
    source: str
    entity: str
    partition: str
    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    status: str


def _create(conn: sa.Connection, table: str, columns: dict[str, str]) -> None:
    cols = ", ".join(f"{quote_ident(c)} {t}" for c, t in columns.items())
    conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {qualified(table)} ({cols})"))


def raw_table_columns(ent: Entity) -> dict[str, str]:
    cols = {c.name: SQL_TYPES[c.type] for c in ent.columns}
    cols.update(PARTITION_COLUMNS)
    return cols


def ensure_raw_tables() -> None:
    """Create every canonical raw table and the audit tables (empty) if missing.

    dbt sources can then rely on all of them existing, whatever the source provides.
    """
    with connect() as conn:
        for schema in ("raw", "audit"):
            ensure_schema(conn, schema)
        for ent in ENTITIES.values():
            _create(conn, f"raw.{ent.name}", raw_table_columns(ent))
        _create(conn, "audit.quarantine", QUARANTINE_COLUMNS)
        _create(conn, "audit.load_log", LOAD_LOG_COLUMNS)


ARROW_TYPES = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
}


def arrow_schema(ent: Entity, zone: str, columns: list[str]) -> pa.Schema:
    """Explicit Parquet schema, so all-null columns keep their type and every file of a
    dataset has the same layout (Spark cannot merge an untyped null column with a typed one)."""
    if zone == "landing":
        return pa.schema([(c, pa.string()) for c in columns])
    return pa.schema([(c, ARROW_TYPES[ent.column(c).type]) for c in columns])


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Landing copy: every value as text, exactly as received (after PII hashing)."""
    return frame.apply(lambda s: s.map(lambda v: None if pd.isna(v) else str(v))).astype(object)


def _payloads(rows: pd.DataFrame) -> list[str]:
    cols = [c for c in rows.columns if c not in LINEAGE_COLUMNS and c != "_reason"]
    return [
        json.dumps({c: (None if pd.isna(v) else str(v)) for c, v in zip(cols, values, strict=True)},
                   sort_keys=True)
        for values in rows[cols].itertuples(index=False, name=None)
    ]


def _quarantine_frame(rejected: pd.DataFrame, source: str, ent: Entity,
                      partition: Partition | None, run_id: str) -> pd.DataFrame:
    n = len(rejected)
    dt_values = [partition.dt if partition else None] * n
    if partition is not None and partition.is_hourly:
        hr_values = [partition.hr] * n
    elif partition is not None and ent.hourly and n:
        # A daily load of an hourly entity: file each rejected row under its own hour when known.
        times = pd.to_datetime(rejected[ent.time_column], errors="coerce")
        hr_values = [int(t.hour) if not pd.isna(t) and t.date() == partition.dt else None for t in times]
    else:
        hr_values = [None] * n
    return pd.DataFrame({
        "source": [source] * n,
        "entity": [ent.name] * n,
        "dt": dt_values,
        "hr": pd.array(hr_values, dtype="Int64"),
        "source_file": rejected.get("_source_file", pd.Series([None] * n)).astype(object).tolist(),
        "source_row": pd.array(rejected.get("_source_row", pd.Series([None] * n)).tolist(), dtype="Int64"),
        "reason": rejected["_reason"].tolist() if n else [],
        "payload": _payloads(rejected) if n else [],
        "run_id": [run_id] * n,
    })


def _partition_keys(partition: Partition | None) -> dict:
    if partition is None:
        return {"dt": None}
    keys: dict = {"dt": partition.dt}
    if partition.is_hourly:
        keys["hr"] = partition.hr
    return keys


def _write_lake(zone: str, ent: Entity, frame: pd.DataFrame, partition: Partition,
                pending: lake.PendingWrites) -> None:
    """Stage one folder per (hourly) partition; empty partitions are written too so re-runs clear them.

    Staged, not published: ``ingest`` publishes after the warehouse transaction commits."""
    data = frame.drop(columns=[c for c in LINEAGE_COLUMNS if c in frame.columns])
    if zone == "landing":
        data = _as_text(data)
    schema = arrow_schema(ent, zone, list(data.columns))

    def to_arrow(subset: pd.DataFrame) -> pa.Table:
        return pa.Table.from_pandas(subset, schema=schema, preserve_index=False)

    if not ent.hourly:
        pending.write(to_arrow(data), lake.partition_dir(zone, ent.name, partition))
        return
    hours = pd.to_datetime(data[ent.time_column], errors="coerce").dt.hour if not data.empty else None
    for part in partition.hours():
        target = lake.partition_dir(zone, ent.name, part)
        subset = data.iloc[0:0] if hours is None else data[hours == part.hr]
        if subset.empty:
            pending.remove(target)  # an hour without data has no folder (re-runs clear stale ones)
            continue
        pending.write(to_arrow(subset), target)


def ingest_partition(source: Source, entity_name: str, partition: Partition, run_id: str,
                     conn: sa.Connection, pending: lake.PendingWrites) -> LoadResult:
    """Load one entity's partition inside the caller's transaction.

    Idempotent: re-running replaces exactly this partition. When the quarantined
    share is above the limit, only the audit rows are written and the result has
    status ``rejected_threshold``; ``ingest`` raises after committing them.
    """
    ent = get_entity(entity_name)
    if partition.is_hourly and not ent.hourly:
        raise ValueError(f"{entity_name} is a daily entity; it cannot be loaded for hour {partition.label}")
    received = source.read(entity_name, partition.start, partition.end)
    received = hash_pii_columns(received)
    result = validate_partition(ent, received, partition.start, partition.end)
    accepted = result.accepted
    n_in, n_ok, n_bad = result.rows_in, len(accepted), len(result.rejected)
    share = n_bad / n_in if n_in else 0.0
    max_share = get_settings().quarantine_max_share
    status = "loaded" if share <= max_share else "rejected_threshold"

    keys = _partition_keys(partition)
    quarantine = _quarantine_frame(result.rejected, source.name, ent, partition, run_id)
    # Audit first: even a rejected partition leaves its reasons behind.
    replace_partition("audit.quarantine", quarantine, {"source": source.name, "entity": ent.name, **keys},
                      column_types=QUARANTINE_COLUMNS, conn=conn)
    log_row = pd.DataFrame([{
        "run_id": run_id, "source": source.name, "entity": ent.name, "dt": partition.dt,
        "hr": partition.hr, "rows_in": n_in, "rows_accepted": n_ok, "rows_quarantined": n_bad,
        "status": status,
    }])
    log_row["hr"] = log_row["hr"].astype("Int64")
    replace_partition("audit.load_log", log_row, {"source": source.name, "entity": ent.name,
                                                  "dt": partition.dt, "hr": partition.hr},
                      column_types=LOAD_LOG_COLUMNS, conn=conn)
    if status != "loaded":
        reasons = result.rejected["_reason"].value_counts().head(3).to_dict()
        log.error("%s/%s %s: %d of %d rows quarantined (%.1f%% > %.1f%%); not published. Top reasons: %s",
                  source.name, ent.name, partition.label, n_bad, n_in, 100 * share, 100 * max_share, reasons)
        return LoadResult(source.name, ent.name, partition.label, n_in, n_ok, n_bad, status)

    _write_lake("landing", ent, received, partition, pending)
    _write_lake("raw", ent, accepted, partition, pending)
    table = accepted.drop(columns=[c for c in LINEAGE_COLUMNS if c in accepted.columns])
    table["dt"] = partition.dt
    times = pd.to_datetime(table[ent.time_column])
    table["hr"] = (times.dt.hour.astype("Int64") if ent.hourly else pd.array([None] * len(table), dtype="Int64"))
    table["_source"] = source.name
    replace_partition(f"raw.{ent.name}", table, keys, column_types=raw_table_columns(ent), conn=conn)
    log.info("loaded %s", asdict(LoadResult(source.name, ent.name, partition.label, n_in, n_ok, n_bad, status)))
    return LoadResult(source.name, ent.name, partition.label, n_in, n_ok, n_bad, status)


def quarantine_unparseable(source: Source, entity_name: str, rows: pd.DataFrame, run_id: str,
                           conn: sa.Connection) -> LoadResult:
    """Rows whose timestamp could not be parsed belong to no partition: quarantine them under dt=NULL."""
    ent = get_entity(entity_name)
    if "_reason" not in rows.columns:
        rows = rows.assign(_reason=pd.Series(dtype=object))
    quarantine = _quarantine_frame(rows, source.name, ent, None, run_id)
    replace_partition("audit.quarantine", quarantine, {"source": source.name, "entity": ent.name, "dt": None},
                      column_types=QUARANTINE_COLUMNS, conn=conn)
    log_row = pd.DataFrame([{
        "run_id": run_id, "source": source.name, "entity": ent.name, "dt": None, "hr": None,
        "rows_in": len(rows), "rows_accepted": 0, "rows_quarantined": len(rows), "status": "unpartitioned",
    }])
    log_row["hr"] = log_row["hr"].astype("Int64")
    replace_partition("audit.load_log", log_row, {"source": source.name, "entity": ent.name, "dt": None,
                                                  "hr": None}, column_types=LOAD_LOG_COLUMNS, conn=conn)
    return LoadResult(source.name, ent.name, "unpartitioned", len(rows), 0, len(rows), "unpartitioned")


def ingest(partition: Partition, run_id: str, source_spec: str | None = None,
           entities: list[str] | None = None) -> list[LoadResult]:
    """Ingest every entity the source provides for ``partition`` (hourly: hourly entities only).

    All warehouse writes of the partition happen in one transaction, so readers
    see either the previous load or this one, never a mix.
    """
    ensure_raw_tables()
    source = get_source(source_spec or get_settings().source)
    wanted = entities or source.entities()
    results = []
    pending = lake.PendingWrites()
    try:
        with connect() as conn:
            for name in wanted:
                if partition.is_hourly and not get_entity(name).hourly:
                    continue
                results.append(ingest_partition(source, name, partition, run_id, conn, pending))
                if not partition.is_hourly:
                    unparseable = source.unparseable(name)
                    if len(unparseable):
                        results.append(quarantine_unparseable(source, name, unparseable, run_id, conn))
        pending.publish()  # the lake changes only once the warehouse has committed
    finally:
        pending.discard()
    rejected = [r for r in results if r.status == "rejected_threshold"]
    if rejected:
        limit = get_settings().quarantine_max_share
        details = "; ".join(f"{r.entity}: {r.rows_quarantined}/{r.rows_in} rows" for r in rejected)
        raise QuarantineThresholdExceeded(
            f"{source.name} partition {partition.label}: quarantined share above {limit:.1%} "
            f"(ECOMFLOW_QUARANTINE_MAX_SHARE) for {details}. Those entities were not published; "
            f"see audit.quarantine (source={source.name!r}, dt={partition.dt}) for the reasons."
        )
    return results
