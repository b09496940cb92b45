"""Spark I/O at the edges of the feature jobs: raw lake in, feature lake out.

Transforms never read or write; this module turns lake folders into DataFrames
with the canonical schema (``tasks.ingest.schema``) and writes feature outputs to
exactly one ``as_of_date=``/``as_of_hour=`` folder.

Why the reader looks at Parquet footers first: ingestion writes each partition
from pandas, so the *physical* type of a column differs between files: a column
that is all null in one hour (``query`` without searches, an empty partition) is
Arrow type ``null`` (Parquet INT32/UNKNOWN), pandas timestamps may be nanoseconds,
ints int32 or int64. Spark reads a folder with one schema and fails on such
files. So the reader lists the partitions inside the window (pruning by path),
reads their footers on the driver, reads each group of files with the same
physical layout with its own schema, casts to the canonical types and unions.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tasks.features.paths import feature_output_path, lake_uri
from tasks.ingest.schema import Entity, entity
from tasks.lake import compacted_day_is_current, dataset_root

log = logging.getLogger(__name__)

CANONICAL_SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.LongType(),
    "float": T.DoubleType(),
    "bool": T.BooleanType(),
    "timestamp": T.TimestampType(),
    "date": T.DateType(),
}

#: Hadoop-only schemes and the pyarrow filesystem that serves the same URIs.
_ARROW_SCHEMES = {"s3a": "s3", "s3n": "s3", "gs": "gs", "gcs": "gs"}
_FOOTER_THREADS = 16
DAY = timedelta(days=1)


def canonical_schema(name: str) -> T.StructType:
    """Spark schema of a raw entity (canonical columns only, no dt/hr)."""
    ent = entity(name)
    return T.StructType(
        [T.StructField(c.name, CANONICAL_SPARK_TYPES[c.type], True) for c in ent.columns]
    )


def empty_raw(spark: SparkSession, name: str) -> DataFrame:
    return spark.createDataFrame([], canonical_schema(name))


def _spark_read_type(arrow_type: pa.DataType, canonical: T.DataType) -> T.DataType | None:
    """Type Spark can decode this file's column with; None when the column holds only nulls.

    Integers and floats are widened so files written as int32 and int64 share a
    group; nanosecond timestamps are read as longs (``nanosAsLong``) and converted.
    """
    if pa.types.is_null(arrow_type):
        return None
    if pa.types.is_integer(arrow_type):
        return T.LongType()
    if pa.types.is_floating(arrow_type):
        return T.DoubleType()
    if pa.types.is_timestamp(arrow_type):
        return T.LongType() if arrow_type.unit == "ns" else T.TimestampType()
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return T.StringType()
    if pa.types.is_boolean(arrow_type):
        return T.BooleanType()
    if pa.types.is_date(arrow_type):
        return T.DateType()
    return canonical


def _to_canonical(column: str, read_type: T.DataType | None, canonical: T.DataType) -> Column:
    if read_type is None:
        return F.lit(None).cast(canonical).alias(column)
    col = F.col(column)
    if isinstance(read_type, T.LongType) and isinstance(canonical, T.TimestampType | T.DateType):
        # nanoseconds since the epoch; integral division, since going through
        # DOUBLE would lose the last digits of a 1.7e18 value
        col = F.timestamp_micros(F.expr(f"`{column}` div 1000"))
    return col.cast(canonical).alias(column)


def _arrow_filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    if "://" not in root:
        return pafs.LocalFileSystem(), root
    scheme, rest = root.split("://", 1)
    return pafs.FileSystem.from_uri(f"{_ARROW_SCHEMES.get(scheme, scheme)}://{rest}")


def _window_expression(ent: Entity, start: datetime | None, end: datetime) -> pc.Expression:
    """Predicate on the hive partition keys: the folders that can hold rows in ``[start, end)``."""
    last = end - timedelta(microseconds=1)
    dt, last_day = pc.field("dt"), pa.scalar(last.date(), pa.date32())
    expr = dt <= last_day
    if start is not None:
        expr = expr & (dt >= pa.scalar(start.date(), pa.date32()))
    if ent.hourly:
        hr = pc.field("hr")
        expr = expr & ((dt < last_day) | (hr <= last.hour))
        if start is not None:
            expr = expr & ((dt > pa.scalar(start.date(), pa.date32())) | (hr >= start.hour))
    return expr


class LakeFile(NamedTuple):
    """A non-empty Parquet file for Spark: its path, physical Arrow schema and dataset root."""

    path: str
    schema: pa.Schema
    root: str


def _fragments(root: str, keys: list[tuple[str, pa.DataType]], window: pc.Expression) -> list[tuple]:
    """(path, partition keys, footer) of the hive-partitioned files under ``root`` in ``window``."""
    filesystem, base = _arrow_filesystem(root)
    try:
        dataset = pads.dataset(
            base, filesystem=filesystem, format="parquet",
            partitioning=pads.partitioning(pa.schema(keys), flavor="hive"),
        )
    except (FileNotFoundError, NotADirectoryError):
        return []
    fragments = list(dataset.get_fragments(filter=window))
    with ThreadPoolExecutor(max_workers=_FOOTER_THREADS) as pool:
        footers = list(pool.map(lambda fragment: fragment.metadata, fragments))
    prefix = root[: len(root) - len(base)] if root.endswith(base) else ""
    return [
        (prefix + fragment.path, pads.get_partition_keys(fragment.partition_expression), footer)
        for fragment, footer in zip(fragments, footers, strict=True)
    ]


def _current_compacted_days(name: str, raw: list[tuple], start: datetime | None, end: datetime) -> dict[date, tuple]:
    """Days entirely inside ``[start, end)`` whose compacted copy names exactly their current
    hour files (``raw``: the window's hour files, empty ones included) -> that copy."""
    hours: dict[date, dict[int, dict | None]] = defaultdict(dict)
    for _, keys, footer in raw:
        hours[keys["dt"]][keys["hr"]] = footer.metadata
    whole = [d for d in hours
             if (start is None or datetime.combine(d, time()) >= start) and datetime.combine(d, time()) + DAY <= end]
    if not whole:
        return {}
    root = lake_uri(dataset_root("compacted", name))
    copies = _fragments(root, [("dt", pa.date32())], pc.field("dt").isin(pa.array(whole, pa.date32())))
    return {keys["dt"]: (path, keys, footer) for path, keys, footer in copies
            if compacted_day_is_current(footer.metadata, hours[keys["dt"]])}


def list_partition_files(name: str, end: datetime, start: datetime | None = None) -> list[LakeFile]:
    """The non-empty files of ``name`` inside the window, a compacted day replacing its hours.

    A day entirely inside the window whose compacted copy (``tasks.lake.compacted_day_dir``)
    names exactly the day's current hour files is read as that one file; any other day (a
    boundary day, an hour re-loaded since, hours written by something else) as its hours.
    Returns an empty list when the entity folder does not exist.
    """
    ent = entity(name)
    keys = [("dt", pa.date32())] + ([("hr", pa.int32())] if ent.hourly else [])
    root = lake_uri(dataset_root("raw", name))
    raw = _fragments(root, keys, _window_expression(ent, start, end))
    days = _current_compacted_days(name, raw, start, end) if ent.hourly and raw else {}
    chosen = [(f, root) for f in raw if f[1]["dt"] not in days]
    chosen += [(f, lake_uri(dataset_root("compacted", name))) for f in days.values()]
    return [LakeFile(path, footer.schema.to_arrow_schema(), base)
            for (path, _, footer), base in chosen if footer.num_rows > 0]


def read_raw(
    spark: SparkSession,
    name: str,
    end: datetime,
    start: datetime | None = None,
) -> DataFrame:
    """Rows of raw entity ``name`` whose time column is in ``[start, end)``.

    Only files in the ``dt`` (and boundary ``hr``) partitions that can hold such
    rows are read; ``start=None`` means every partition before ``end``
    (dimensions such as users and products). A missing entity folder is not an
    error: sources differ in what they provide (UCI retail has no transactions),
    so an empty frame with the canonical schema is returned and logged.
    """
    ent = entity(name)
    files = list_partition_files(name, end, start)
    if not files:
        log.warning("raw entity %r has no data at %s in [%s, %s); using an empty frame",
                    name, lake_uri(dataset_root("raw", name)), start, end)
        return empty_raw(spark, name)
    canonical = canonical_schema(name)
    groups: dict[tuple, list[str]] = defaultdict(list)
    for file in files:
        physical = {field.name: field.type for field in file.schema}
        layout = tuple(
            (f.name, _spark_read_type(physical[f.name], f.dataType) if f.name in physical else None)
            for f in canonical.fields
        )
        groups[(file.root, layout)].append(file.path)
    parts = []
    for (root, layout), paths in groups.items():
        read_schema = T.StructType([T.StructField(n, t) for n, t in layout if t is not None])
        frame = spark.read.schema(read_schema).option("basePath", root).parquet(*paths)
        types = dict(layout)
        parts.append(frame.select(
            *[_to_canonical(f.name, types[f.name], f.dataType) for f in canonical.fields]
        ))
    frame = functools.reduce(DataFrame.unionByName, parts)
    n_days = sum(f.root != lake_uri(dataset_root("raw", name)) for f in files)
    log.info("raw %s: %d files (%d compacted days) in %d physical layouts for [%s, %s)",
             name, len(files), n_days, len(groups), start, end)
    time_col = F.col(ent.time_column)
    if isinstance(canonical[ent.time_column].dataType, T.DateType):
        frame = frame.where(time_col < F.lit(_ceil_date(end)))
        if start is not None:
            frame = frame.where(time_col >= F.lit(start.date()))
    else:
        frame = frame.where(time_col < ts_lit(end))
        if start is not None:
            frame = frame.where(time_col >= ts_lit(start))
    return frame


def _ceil_date(moment: datetime) -> date:
    """First date entirely at or after ``moment`` (a date column has no time of day)."""
    day = moment.date()
    return day if moment == datetime(day.year, day.month, day.day) else day + timedelta(days=1)


def ts_lit(moment: datetime) -> Column:
    """A TIMESTAMP literal for a naive UTC datetime.

    ``F.lit(datetime)`` converts through the Python process's local zone; going
    through text keeps the value exact whatever ``TZ`` the driver runs with.
    """
    if moment.tzinfo is not None:
        raise ValueError(f"timestamps are naive UTC in this project, got {moment!r}")
    return F.lit(moment.isoformat(sep=" ")).cast(T.TimestampType())


# ---- feature outputs -------------------------------------------------------

def with_run_columns(frame: DataFrame, as_of_date: date, as_of_hour: datetime | None) -> DataFrame:
    """Stamp every row with the run's partition (``as_of_date`` DATE, ``as_of_hour`` TIMESTAMP)."""
    hour = ts_lit(as_of_hour) if as_of_hour is not None else F.lit(None).cast(T.TimestampType())
    return frame.withColumn("as_of_date", F.lit(as_of_date)).withColumn("as_of_hour", hour)


def write_features(frame: DataFrame, feature_set: str, as_of_date: date,
                   as_of_hour: datetime | None = None) -> str:
    """Overwrite exactly this run's output folder (a re-run replaces, never appends)."""
    target = lake_uri(feature_output_path(feature_set, as_of_date, as_of_hour))
    with_run_columns(frame, as_of_date, as_of_hour).write.mode("overwrite").parquet(target)
    return target
