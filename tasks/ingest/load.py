"""Ingest one partition of one source into the landing zone, the lake and ``raw.*``.

Flow per partition (all entities the source provides):
  1. per entity: source.read -> hash PII -> validate (types, domain rules, references,
     duplicates) -> accepted + rejected rows. Nothing is written yet, so a file that
     must be rejected whole (``errors.BadInputError``) leaves every table and folder as it was.
  2. one transaction: audit.quarantine (rejected rows with reasons) and audit.load_log
     (reconciliation) per entity; then, only if *every* entity is under the quarantine
     limit, lake/landing (as received), lake/raw (accepted, canonical types) and
     raw.<entity> (partition replace).

Invariant: rows_in = rows_accepted + rows_quarantined for every load. If the
quarantined share of any entity exceeds ``settings.quarantine_max_share``, nothing of
the partition is published (readers keep the previous version, never a mix of the two),
the offending entity's audit rows are still written so the engineer can see why, and
``ingest`` raises ``QuarantineThresholdExceeded``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from tasks import lake
from tasks.contracts import operations_schema
from tasks.ingest.pii import hash_pii_columns
from tasks.ingest.schema import ENTITIES, REFERENCES, Entity
from tasks.ingest.schema import entity as get_entity
from tasks.ingest.sources import get_source
from tasks.ingest.sources.base import Source
from tasks.ingest.validate import LINEAGE_COLUMNS, ValidationResult, as_text, validate_partition
from tasks.partitions import Partition
from tasks.settings import get_settings
from tasks.warehouse import connect, ensure_schema, qualified, quote_ident, read_frame, replace_partition

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
# The audit tables' columns and SQL types, declared in tasks/contracts/operations_schema.py.
QUARANTINE_COLUMNS = operations_schema.sql_types("audit.quarantine")
LOAD_LOG_COLUMNS = operations_schema.sql_types("audit.load_log")


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
    return pd.DataFrame({c: as_text(frame[c]) for c in frame.columns}, index=frame.index, dtype=object)


def _payloads(rows: pd.DataFrame) -> list[str]:
    """The row as received (PII already hashed), without provenance/meta columns."""
    cols = [c for c in rows.columns if not str(c).startswith("_")]
    return [
        json.dumps({c: (None if pd.isna(v) else str(v)) for c, v in zip(cols, values, strict=True)},
                   sort_keys=True)
        for values in rows[cols].itertuples(index=False, name=None)
    ]


def _column_or_nulls(frame: pd.DataFrame, name: str) -> list:
    return frame[name].tolist() if name in frame.columns else [None] * len(frame)


def _quarantine_frame(rejected: pd.DataFrame, source: str, ent: Entity,
                      partition: Partition | None, run_id: str, days: list[date] | None = None) -> pd.DataFrame:
    """Rows for ``audit.quarantine``: of one partition, or (``days``: each row's daily partition)
    of many daily partitions at once."""
    n = len(rejected)
    dt_values = list(days) if days is not None else [partition.dt if partition else None] * n
    if partition is not None and partition.is_hourly:
        hr_values = [partition.hr] * n
    elif (partition is not None or days is not None) and ent.hourly and n:
        # A daily load of an hourly entity: file each rejected row under its own hour when known.
        times = pd.to_datetime(rejected[ent.time_column], errors="coerce")
        hr_values = [int(t.hour) if not pd.isna(t) and t.date() == dt else None
                     for t, dt in zip(times, dt_values, strict=True)]
    else:
        hr_values = [None] * n
    return pd.DataFrame({
        "source": [source] * n,
        "entity": [ent.name] * n,
        "dt": dt_values,
        "hr": pd.array(hr_values, dtype="Int64"),
        "source_file": pd.Series(_column_or_nulls(rejected, "_source_file"), dtype=object).tolist(),
        "source_row": pd.array(_column_or_nulls(rejected, "_source_row"), dtype="Int64"),
        "source_line": pd.array(_column_or_nulls(rejected, "_source_line"), dtype="Int64"),
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


def lake_frame(zone: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The columns a lake zone stores: no lineage; landing holds every value as text, as received."""
    data = frame.drop(columns=[c for c in LINEAGE_COLUMNS if c in frame.columns])
    return _as_text(data) if zone == "landing" else data


_EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    """Days since 1970-01-01: the key rows are grouped by when one load spans many days."""
    return (day - _EPOCH).days


def stage_lake(zone: str, ent: Entity, frame: pd.DataFrame, row_day: np.ndarray, partitions: list[Partition],
               pending: lake.PendingWrites) -> None:
    """Stage the lake folders of ``partitions`` from ``frame`` (``row_day``: each row's
    ``day_number``), one folder per daily partition or, for an hourly entity, per hour of it.

    An empty daily partition still gets its (empty) file and an hour without rows has no folder,
    so a re-run clears what an earlier load left. Staged, not published: the caller publishes
    after the warehouse transaction commits.

    A whole day of an hourly entity in ``raw`` also gets its compacted copy
    (``lake.compacted_day_dir``: one file instead of up to 24 for Spark to open); loading a
    single hour drops that copy, since it no longer matches the day's hours (readers would
    ignore it anyway: it names the hour files it copies).
    """
    data = lake_frame(zone, frame)
    table = pa.Table.from_pandas(data, schema=arrow_schema(ent, zone, list(data.columns)), preserve_index=False)
    positions = pd.Series(np.arange(len(data)))
    groups: dict = {}
    if len(data) and ent.hourly:
        hours = pd.to_datetime(data[ent.time_column], errors="coerce").dt.hour.fillna(-1).astype(int).to_numpy()
        groups = positions.groupby([row_day, hours]).indices
    elif len(data):
        groups = positions.groupby(row_day).indices
    for partition in partitions:
        number = day_number(partition.dt)
        if not ent.hourly:
            rows = groups.get(number)
            pending.write(table.take(rows) if rows is not None else table.slice(0, 0),
                          lake.partition_dir(zone, ent.name, partition))
            continue
        written: dict[int, tuple[str, np.ndarray]] = {}
        for part in partition.hours():
            rows = groups.get((number, part.hr))
            target = lake.partition_dir(zone, ent.name, part)
            if rows is None:
                pending.remove(target)
            else:
                written[part.hr] = (pending.write(table.take(rows), target), rows)
        if zone == "raw":
            _stage_compacted_day(ent, table, partition, written, pending)


def _stage_compacted_day(ent: Entity, table: pa.Table, partition: Partition,
                         written: dict[int, tuple[str, np.ndarray]], pending: lake.PendingWrites) -> None:
    """Stage the compacted day of a whole-day load; drop it for a one-hour load or an empty day."""
    target = lake.compacted_day_dir(ent.name, partition)
    if partition.is_hourly or not written:
        pending.remove(target)
        return
    day = table.take(np.concatenate([rows for _, rows in written.values()]))  # hour order, as the hours
    manifest = lake.day_manifest({hr: write_id for hr, (write_id, _) in written.items()})
    pending.write(day.replace_schema_metadata({**(day.schema.metadata or {}), **manifest}), target)


def _write_lake(zone: str, ent: Entity, frame: pd.DataFrame, partition: Partition,
                pending: lake.PendingWrites) -> None:
    """Stage one partition's lake folders (``stage_lake`` for a single partition)."""
    stage_lake(zone, ent, frame, np.full(len(frame), day_number(partition.dt), dtype=np.int64), [partition],
               pending)


class ReferenceIndex:
    """The ids each reference check accepts, for one load of one source (read once, lazily).

    A reference is known when the source has that user/product at all (any time: an hourly
    load runs before the daily load that lands the day's new users) or an earlier load put
    it in ``raw.*`` for this source (a daily drop no longer in today's file). A source
    without the referenced entity (clickstream only) is not checked: it cannot know.
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self._source_ids: dict[str, set[str]] = {}
        self._raw_ids: dict[str, set[str]] = {}
        self._skipped: set[tuple[str, str]] = set()

    def _ids_in_source(self, ref: str) -> set[str]:
        if ref not in self._source_ids:
            self._source_ids[ref] = self.source.known_ids(ref, get_entity(ref).key[0])
        return self._source_ids[ref]

    def _ids_in_raw(self, ref: str) -> set[str]:
        if ref not in self._raw_ids:
            key = quote_ident(get_entity(ref).key[0])
            rows = read_frame(f"SELECT DISTINCT {key} AS id FROM {qualified('raw.' + ref)} WHERE _source = :s",
                              {"s": self.source.name})
            self._raw_ids[ref] = {str(v) for v in rows["id"].dropna()}
        return self._raw_ids[ref]

    def for_entity(self, entity_name: str, frame: pd.DataFrame) -> dict[str, set[str]]:
        """Column -> accepted ids for the reference columns of ``entity_name`` that can be checked."""
        out: dict[str, set[str]] = {}
        for (name, column), ref in REFERENCES.items():
            if name != entity_name or column not in frame.columns:
                continue
            if ref not in self.source.entities():
                if (name, column) not in self._skipped:
                    self._skipped.add((name, column))
                    log.info("%s.%s: source %r provides no %s, so its references are not checked",
                             name, column, self.source.name, ref)
                continue
            if ref in self.source.derived_entities():
                if (name, column) not in self._skipped:  # derived from these very rows: known by construction
                    self._skipped.add((name, column))
                    log.info("%s.%s: source %r derives its %s from its own rows, so its references are not "
                             "checked", name, column, self.source.name, ref)
                continue
            known = self._ids_in_source(ref)
            values = {str(v) for v in frame[column].dropna()}
            out[column] = known if values <= known else known | self._ids_in_raw(ref)
        return out


@dataclass(eq=False)  # compared by identity: two loads are never "equal"
class PreparedLoad:
    """One entity's partition, read and validated, not yet written anywhere."""

    entity: Entity
    received: pd.DataFrame  # as read, PII hashed
    result: ValidationResult
    status: str  # loaded | rejected_threshold

    @property
    def share(self) -> float:
        """Quarantined share that counts against the limit: rows the mapping declared ignored
        are quarantined too, but are not bad input."""
        bad = len(self.result.rejected) - self.result.ignored
        return bad / self.result.rows_in if self.result.rows_in else 0.0


def quarantine_limit(source: Source) -> tuple[float, str]:
    """The share of rejected rows above which a partition is not published, and where it is set."""
    own = source.quarantine_max_share()
    if own is not None:
        return own, f"quarantine_max_share of source {source.name!r}"
    return get_settings().quarantine_max_share, "ECOMFLOW_QUARANTINE_MAX_SHARE"


def prepare_partition(source: Source, entity_name: str, partition: Partition,
                      references: ReferenceIndex | None = None) -> PreparedLoad:
    """Read, hash and validate one entity's partition; write nothing (so a failure leaves no trace)."""
    ent = get_entity(entity_name)
    if partition.is_hourly and not ent.hourly:
        raise ValueError(f"{entity_name} is a daily entity; it cannot be loaded for hour {partition.label}")
    received = hash_pii_columns(source.read(entity_name, partition.start, partition.end))
    known = (references or ReferenceIndex(source)).for_entity(entity_name, received)
    load = PreparedLoad(ent, received, validate_partition(ent, received, partition.start, partition.end, known,
                                                          source.extra_features(entity_name)), "loaded")
    if load.share > quarantine_limit(source)[0]:
        load.status = "rejected_threshold"
    return load


def _write_audit(prepared: PreparedLoad, source: Source, partition: Partition, run_id: str,
                 conn: sa.Connection) -> LoadResult:
    ent, result = prepared.entity, prepared.result
    n_in, n_ok, n_bad = result.rows_in, len(result.accepted), len(result.rejected)
    keys = _partition_keys(partition)
    quarantine = _quarantine_frame(result.rejected, source.name, ent, partition, run_id)
    replace_partition("audit.quarantine", quarantine, {"source": source.name, "entity": ent.name, **keys},
                      column_types=QUARANTINE_COLUMNS, conn=conn)
    log_row = pd.DataFrame([{
        "run_id": run_id, "source": source.name, "entity": ent.name, "dt": partition.dt,
        "hr": partition.hr, "rows_in": n_in, "rows_accepted": n_ok, "rows_quarantined": n_bad,
        "status": prepared.status,
    }])
    log_row["hr"] = log_row["hr"].astype("Int64")
    replace_partition("audit.load_log", log_row, {"source": source.name, "entity": ent.name,
                                                  "dt": partition.dt, "hr": partition.hr},
                      column_types=LOAD_LOG_COLUMNS, conn=conn)
    if prepared.status != "loaded":
        log_withheld(prepared, source, partition)
    return LoadResult(source.name, ent.name, partition.label, n_in, n_ok, n_bad, prepared.status)


def log_withheld(prepared: PreparedLoad, source: Source, partition: Partition) -> None:
    """Say in the task log why an entity's partition was not published (the top reasons)."""
    result = prepared.result
    reasons = result.rejected["_reason"].value_counts().head(3).to_dict()
    log.error("%s/%s %s: %d of %d rows quarantined (%.1f%% > %.1f%%); not published. Top reasons: %s",
              source.name, prepared.entity.name, partition.label, len(result.rejected), result.rows_in,
              100 * prepared.share, 100 * quarantine_limit(source)[0], reasons)


def raw_rows(ent: Entity, accepted: pd.DataFrame, source_name: str, dt: date | list[date]) -> pd.DataFrame:
    """The accepted rows as ``raw.<entity>`` stores them: canonical columns + dt, hr, _source
    (``dt``: the partition's day, or each row's day in a load of many days)."""
    table = accepted.drop(columns=[c for c in LINEAGE_COLUMNS if c in accepted.columns])
    table["dt"] = dt
    times = pd.to_datetime(table[ent.time_column])
    table["hr"] = (times.dt.hour.astype("Int64") if ent.hourly else pd.array([None] * len(table), dtype="Int64"))
    table["_source"] = source_name
    return table


def _publish(prepared: PreparedLoad, source: Source, partition: Partition, conn: sa.Connection,
             pending: lake.PendingWrites) -> None:
    """Replace the partition in raw.* (in ``conn``'s transaction) and stage its lake files in ``pending``."""
    ent, accepted = prepared.entity, prepared.result.accepted
    _write_lake("landing", ent, prepared.received, partition, pending)
    _write_lake("raw", ent, accepted, partition, pending)
    replace_partition(f"raw.{ent.name}", raw_rows(ent, accepted, source.name, partition.dt),
                      _partition_keys(partition), column_types=raw_table_columns(ent), conn=conn)


def ingest_partition(source: Source, entity_name: str, partition: Partition, run_id: str,
                     conn: sa.Connection, pending: lake.PendingWrites) -> LoadResult:
    """Load one entity's partition inside the caller's transaction.

    Idempotent: re-running replaces exactly this partition. Lake files are staged in
    ``pending``; the caller publishes them after the commit. When the quarantined
    share is above the limit, only the audit rows are written and the result has
    status ``rejected_threshold``. ``ingest`` loads all entities of a partition
    together (all or none published); use it rather than this.
    """
    prepared = prepare_partition(source, entity_name, partition)
    result = _write_audit(prepared, source, partition, run_id, conn)
    if prepared.status == "loaded":
        _publish(prepared, source, partition, conn, pending)
        log.info("loaded %s", asdict(result))
    return result


def quarantine_unparseable(source: Source, entity_name: str, rows: pd.DataFrame, run_id: str,
                           conn: sa.Connection) -> LoadResult:
    """Rows whose timestamp could not be parsed belong to no partition: quarantine them under dt=NULL."""
    ent = get_entity(entity_name)
    rows = hash_pii_columns(rows)  # the payload is written from this frame: no clear PII in audit.*
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


def _examples(rejected: pd.DataFrame, n: int = 3) -> str:
    """A few rejected rows as ``file line 4: reason`` so the error alone shows where to look."""
    out = []
    for _, row in rejected.head(n).iterrows():
        line, data_row = row.get("_source_line"), row.get("_source_row")
        spot = (f"line {int(line)}" if line is not None and not pd.isna(line)
                else f"row {int(data_row)}" if data_row is not None and not pd.isna(data_row) else "")
        out.append(f"{row.get('_source_file', '<unknown file>')} {spot}: {row['_reason']}")
    return "; ".join(out)


def ingest(partition: Partition, run_id: str, source_spec: str | None = None,
           entities: list[str] | None = None) -> list[LoadResult]:
    """Ingest every entity the source provides for ``partition`` (hourly: hourly entities only).

    Everything is read and validated before anything is written; all warehouse writes
    of the partition then happen in one transaction, and nothing is published unless
    every entity is within the quarantine limit, so readers see either the previous
    load or this one, never a mix. A daily partition is loaded by ``load_days`` (the
    historical load's bulk path, for one day), so both paths are one code.
    """
    if not partition.is_hourly:
        from tasks.ingest.load_days import ingest_days

        return ingest_days(partition.dt, partition.dt + timedelta(days=1), run_id, source_spec, entities)
    ensure_raw_tables()
    source = get_source(source_spec or get_settings().source)
    wanted = [name for name in (entities or source.entities()) if get_entity(name).hourly]
    references = ReferenceIndex(source)
    prepared = [prepare_partition(source, name, partition, references) for name in wanted]
    over = [p for p in prepared if p.status == "rejected_threshold"]
    results = []
    # Lake files are staged during the transaction and renamed into place only after it
    # commits, so the lake never holds a version the warehouse rolled back.
    pending = lake.PendingWrites()
    try:
        with connect() as conn:
            for load in prepared:
                if not over or load in over:  # entities withheld because of another one keep their audit rows
                    results.append(_write_audit(load, source, partition, run_id, conn))
                if not over:
                    _publish(load, source, partition, conn, pending)
                    log.info("loaded %s", asdict(results[-1]))
    except BaseException:
        pending.discard()
        raise
    pending.publish()
    if over:
        raise QuarantineThresholdExceeded(withheld_message(source, partition, prepared))
    return results


def withheld_message(source: Source, partition: Partition, prepared: list[PreparedLoad]) -> str:
    """Why a partition was not published: which entities were over the limit, with examples."""
    over = [p for p in prepared if p.status == "rejected_threshold"]
    limit, limit_from = quarantine_limit(source)
    details = "; ".join(
        f"{p.entity.name}: {len(p.result.rejected)}/{p.result.rows_in} rows ({p.share:.1%}), e.g. "
        f"{_examples(p.result.rejected)}" for p in over)
    withheld = [p.entity.name for p in prepared if p not in over]
    return (f"{source.name} partition {partition.label}: quarantined share above {limit:.1%} "
            f"({limit_from}) for {details}. Nothing of the partition was published"
            + (f" (also withheld: {', '.join(withheld)})" if withheld else "")
            + f"; the previous version stays. See audit.quarantine (source={source.name!r}, dt={partition.dt}) "
            "for every rejected row and its reason.")
