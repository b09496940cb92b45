"""Load many daily partitions in bulk: the historical load, and (for one day) the daily ``ingest``.

Why a bulk path: walking a five-year daily file one partition at a time cost one source read,
one validation and one warehouse transaction with a DELETE + INSERT per table *per day*
(6.8 min for 1,966 days of a 1.6M-row panel), so the load time followed the number of days,
not the data. Here each entity is read once per chunk of days and written with one DELETE +
one bulk insert per table per chunk.

What stays per partition, so the tables are exactly those of a day-by-day load (the
``tests/e2e/test_backfill_equivalence.py`` contract): each day's rows are validated on their
own (the partition window, duplicate keys within the partition), each day gets its own
``audit.load_log`` row per entity (rows in = accepted + quarantined) and its own lake files,
and the quarantine limit is judged per day: a day with an entity over the limit publishes
nothing (its offending entities' audit rows are written), the other days are loaded, and
``QuarantineThresholdExceeded`` then names the withheld days.

Chunks are sized from the rows per day seen so far (about ``TARGET_ROWS_PER_CHUNK`` rows),
so memory stays bounded on a large source while a sparse one is loaded in a few chunks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tasks import lake
from tasks.ingest.load import (
    LOAD_LOG_COLUMNS,
    QUARANTINE_COLUMNS,
    LoadResult,
    PreparedLoad,
    QuarantineThresholdExceeded,
    ReferenceIndex,
    _quarantine_frame,
    day_number,
    ensure_raw_tables,
    log_withheld,
    quarantine_limit,
    quarantine_unparseable,
    raw_rows,
    raw_table_columns,
    stage_lake,
    withheld_message,
)
from tasks.ingest.pii import hash_pii_columns
from tasks.ingest.schema import Entity
from tasks.ingest.schema import entity as get_entity
from tasks.ingest.sources import get_source
from tasks.ingest.sources.base import PARTITION_TIME, Source
from tasks.ingest.validate import ValidationResult, validate_partition
from tasks.partitions import KNOWN_AHEAD, Partition
from tasks.settings import get_settings
from tasks.warehouse import connect
from tasks.warehouse.io import replace_partitions

log = logging.getLogger(__name__)

TARGET_ROWS_PER_CHUNK = 400_000
FIRST_CHUNK_DAYS = 7  # a week first: on a source of millions of rows a day, a month at once would not fit
MAX_CHUNK_DAYS = 366
#: How far ahead a known-ahead entity (the calendar) is loaded: the longest forecast horizon
#: (3 months, ``DemandConfig.horizon_months``) plus a margin.
LOOK_AHEAD_DAYS = 100
@dataclass
class EntityChunk:
    """One entity's rows over a chunk of days, validated together, with each row's day."""

    entity: Entity
    received: pd.DataFrame  # as read, PII hashed (RangeIndex)
    result: ValidationResult
    received_day: np.ndarray  # day number (since 1970-01-01) of each received row
    accepted_day: np.ndarray
    rejected_day: np.ndarray

    def counts(self, day: int) -> tuple[int, int]:
        return int(self.n_in.get(day, 0)), int(self.n_bad.get(day, 0))

    def counted_against_limit(self, day: int) -> int:
        """The day's quarantined rows minus those not counted against the limit
        (``ValidationResult.not_counted``)."""
        return int(self.n_bad.get(day, 0)) - int(self.n_ignored.get(day, 0))

    def __post_init__(self) -> None:
        self.n_in = pd.Series(self.received_day).value_counts().to_dict()
        self.n_bad = pd.Series(self.rejected_day).value_counts().to_dict()
        not_counted = self.result.not_counted
        ignored = self.result.rejected.index[not_counted.to_numpy()].to_numpy(dtype=np.int64)
        self.n_ignored = pd.Series(self.received_day[ignored]).value_counts().to_dict()

    def for_day(self, day: int, status: str) -> PreparedLoad:
        """This entity's partition of one day on its own (for messages about a withheld day)."""
        result = ValidationResult(
            accepted=self.result.accepted[self.accepted_day == day].reset_index(drop=True),
            rejected=self.result.rejected[self.rejected_day == day])
        return PreparedLoad(self.entity, self.received[self.received_day == day].reset_index(drop=True),
                            result, status)


def _read_chunk(source: Source, name: str, days: list[date], references: ReferenceIndex) -> EntityChunk:
    """Read ``name`` once for the chunk and validate it with each row's own daily partition
    window (the day the source routes it to: its routing time, else its time column)."""
    ent = get_entity(name)
    start = datetime.combine(days[0], datetime.min.time())
    frame = hash_pii_columns(source.read(name, start, start + timedelta(days=len(days)))).reset_index(drop=True)
    route = PARTITION_TIME if PARTITION_TIME in frame.columns else ent.time_column
    day_start = pd.Series(pd.to_datetime(frame[route]).dt.normalize().to_numpy(), index=frame.index)
    day_no = (day_start.to_numpy().astype("datetime64[D]").astype(np.int64) if len(frame)
              else np.zeros(0, dtype=np.int64))
    result = validate_partition(ent, frame, day_start, day_start + pd.Timedelta(days=1),
                                references.for_entity(name, frame), source.extra_features(name))
    bad = np.zeros(len(frame), dtype=bool)
    bad[result.rejected.index.to_numpy()] = True  # validate_partition keeps rejected rows' positions
    return EntityChunk(ent, frame, result, day_no, day_no[~bad], day_no[bad])


def _load_chunk(source: Source, chunks: list[EntityChunk], days: list[date], run_id: str,
                with_unparseable: list[str]) -> tuple[list[LoadResult], list[str]]:
    """Write one chunk in one transaction (lake files published after it commits). Returns the
    results and the messages of the days withheld by the quarantine limit."""
    limit = quarantine_limit(source)[0]
    results: list[LoadResult] = []
    withheld: list[str] = []
    published: list[date] = []
    for day in days:
        number = day_number(day)
        counts = {c.entity.name: c.counts(number) for c in chunks}
        counted = {c.entity.name: c.counted_against_limit(number) for c in chunks}
        over = {name for name, (n_in, _) in counts.items() if n_in and counted[name] / n_in > limit}
        for chunk in chunks:
            name = chunk.entity.name
            if over and name not in over:
                continue  # withheld because of another entity: its previous audit rows stay
            n_in, n_bad = counts[name]
            status = "rejected_threshold" if name in over else "loaded"
            results.append(LoadResult(source.name, name, day.isoformat(), n_in, n_in - n_bad, n_bad, status))
        if over:
            loads = [c.for_day(number, "rejected_threshold" if c.entity.name in over else "loaded") for c in chunks]
            for load in loads:
                if load.status != "loaded":
                    log_withheld(load, source, Partition(day))
            withheld.append(withheld_message(source, Partition(day), loads))
        else:
            published.append(day)
    published_no = np.array([day_number(d) for d in published], dtype=np.int64)
    parts = [Partition(day) for day in published]
    pending = lake.PendingWrites()
    try:
        for chunk in chunks:
            keep_in = np.isin(chunk.received_day, published_no)
            keep_ok = np.isin(chunk.accepted_day, published_no)
            stage_lake("landing", chunk.entity, chunk.received[keep_in], chunk.received_day[keep_in], parts,
                       pending)
            stage_lake("raw", chunk.entity, chunk.result.accepted[keep_ok], chunk.accepted_day[keep_ok], parts,
                       pending)
        with connect() as conn:
            for chunk in chunks:
                name = chunk.entity.name
                _write_audit_days(source, chunk, [r for r in results if r.entity == name], run_id, conn)
                keep_ok = np.isin(chunk.accepted_day, published_no)
                rows = raw_rows(chunk.entity, chunk.result.accepted[keep_ok].reset_index(drop=True), source.name,
                                _dates(chunk.accepted_day[keep_ok]))
                replace_partitions(f"raw.{name}", rows, {}, "dt", published,
                                   column_types=raw_table_columns(chunk.entity), conn=conn)
            for name in with_unparseable:  # rows without a readable time: once per load, under dt=NULL
                rows = source.unparseable(name)
                if len(rows):
                    results.append(quarantine_unparseable(source, name, rows, run_id, conn))
    except BaseException:
        pending.discard()
        raise
    pending.publish()
    return results, withheld


def _dates(day_numbers: np.ndarray) -> list[date]:
    return [date(1970, 1, 1) + timedelta(days=int(n)) for n in day_numbers]


def _write_audit_days(source: Source, chunk: EntityChunk, audited: list[LoadResult], run_id: str,
                      conn: sa.Connection) -> None:
    """``audit.quarantine`` and ``audit.load_log`` of one entity's audited days (``audited``: one
    result per day): every rejected row with its reason, one load-log row per day (rows in =
    accepted + quarantined)."""
    if not audited:
        return
    ent = chunk.entity
    days = [date.fromisoformat(r.partition) for r in audited]
    keep = np.isin(chunk.rejected_day, [day_number(d) for d in days])
    quarantine = _quarantine_frame(chunk.result.rejected[keep], source.name, ent, None, run_id,
                                   days=_dates(chunk.rejected_day[keep]))
    replace_partitions("audit.quarantine", quarantine, {"source": source.name, "entity": ent.name}, "dt", days,
                       column_types=QUARANTINE_COLUMNS, conn=conn)
    log_rows = pd.DataFrame([{
        "run_id": run_id, "source": source.name, "entity": ent.name, "dt": day, "hr": None, "rows_in": r.rows_in,
        "rows_accepted": r.rows_accepted, "rows_quarantined": r.rows_quarantined, "status": r.status,
    } for day, r in zip(days, audited, strict=True)])
    log_rows["hr"] = log_rows["hr"].astype("Int64")
    replace_partitions("audit.load_log", log_rows, {"source": source.name, "entity": ent.name, "hr": None}, "dt",
                       days, column_types=LOAD_LOG_COLUMNS, conn=conn)


def _days(first: date, until: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((until - first).days)]


def _look_ahead_days(source: Source, entities: list[str], until: date) -> list[date]:
    """The days in ``[until, until + LOOK_AHEAD_DAYS)`` up to the last day ``entities`` have."""
    last = None
    for name in entities:
        try:
            end = source.coverage(name)[1].date()
        except ValueError:  # no parseable rows
            continue
        last = end if last is None else max(last, end)
    if last is None or last < until:
        return []
    return _days(until, min(last + timedelta(days=1), until + timedelta(days=LOOK_AHEAD_DAYS)))


def _ingest_range(source: Source, all_days: list[date], run_id: str, wanted: list[str],
                  references: ReferenceIndex, record_unparseable: bool) -> tuple[list[LoadResult], list[str]]:
    """Load ``all_days`` of ``wanted`` in chunks sized to about ``TARGET_ROWS_PER_CHUNK`` rows."""
    results: list[LoadResult] = []
    withheld: list[str] = []
    size, position, n_rows = FIRST_CHUNK_DAYS, 0, 0
    while position < len(all_days):
        days = all_days[position:position + size]
        chunks = [_read_chunk(source, name, days, references) for name in wanted]
        unparseable = wanted if position == 0 and record_unparseable else []
        chunk_results, chunk_withheld = _load_chunk(source, chunks, days, run_id, unparseable)
        results += chunk_results
        withheld += chunk_withheld
        position += len(days)
        n_rows += sum(len(c.received) for c in chunks)
        if len(all_days) > 1:
            log.info("loaded days %s..%s (%d of %d days, %d rows so far)", days[0], days[-1], position,
                     len(all_days), n_rows)
        size = int(min(MAX_CHUNK_DAYS, max(1, TARGET_ROWS_PER_CHUNK // max(n_rows / position, 1.0))))
    return results, withheld


def ingest_days(first: date, until: date, run_id: str, source_spec: str | None = None,
                entities: list[str] | None = None) -> list[LoadResult]:
    """Ingest every daily partition in ``[first, until)`` of every entity the source provides.

    The same tables as ``ingest(Partition(day))`` for each day in turn (see the module
    docstring); raises ``QuarantineThresholdExceeded`` after loading the other days when a
    day had an entity over the quarantine limit.

    Entities known ahead (``partitions.KNOWN_AHEAD``: the events calendar) are also loaded for
    the ``LOOK_AHEAD_DAYS`` after ``until`` that the source has: a forecast made on day D uses
    the events of its horizon (holidays are known in advance), and those rows would otherwise
    reach the warehouse only on their own day. Each is still its own partition, replaced
    whole by every later load of it.
    """
    if until <= first:
        raise ValueError(f"empty range of days: [{first}, {until})")
    ensure_raw_tables()
    source = get_source(source_spec or get_settings().source)
    wanted = list(entities or source.entities())
    references = ReferenceIndex(source)
    all_days = _days(first, until)
    results, withheld = _ingest_range(source, all_days, run_id, wanted, references, record_unparseable=True)
    ahead_days = _look_ahead_days(source, [e for e in wanted if e in KNOWN_AHEAD], until)
    if ahead_days:
        ahead = [e for e in wanted if e in KNOWN_AHEAD]
        more, more_withheld = _ingest_range(source, ahead_days, run_id, ahead, references, record_unparseable=False)
        results += more
        withheld += more_withheld
        log.info("loaded %s ahead: %s..%s", ", ".join(ahead), ahead_days[0], ahead_days[-1])
    if len(all_days) == 1:
        for result in results:
            log.info("loaded %s", result)
    if withheld:
        raise QuarantineThresholdExceeded(withheld[0] if len(withheld) == 1 else (
            f"{len(withheld)} of {len(all_days)} daily partitions were withheld (the others are loaded); "
            "first: " + " | ".join(withheld[:3])))
    return results
