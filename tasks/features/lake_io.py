"""Spark I/O at the edges of the feature jobs: raw lake in, feature lake out.

Transforms never read or write; this module turns lake folders into DataFrames
with the canonical schema (``tasks.ingest.schema``) and writes feature outputs to
exactly one ``as_of_date=``/``as_of_hour=`` folder.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tasks.features.paths import feature_output_path, lake_uri
from tasks.ingest.schema import Entity, entity
from tasks.lake import dataset_root

log = logging.getLogger(__name__)

CANONICAL_SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.LongType(),
    "float": T.DoubleType(),
    "bool": T.BooleanType(),
    "timestamp": T.TimestampType(),
    "date": T.DateType(),
}

_PARTITION_FIELDS = [T.StructField("dt", T.DateType()), T.StructField("hr", T.IntegerType())]
def canonical_schema(name: str) -> T.StructType:
    """Spark schema of a raw entity (canonical columns only, no dt/hr)."""
    ent = entity(name)
    return T.StructType(
        [T.StructField(c.name, CANONICAL_SPARK_TYPES[c.type], True) for c in ent.columns]
    )


def empty_raw(spark: SparkSession, name: str) -> DataFrame:
    return spark.createDataFrame([], canonical_schema(name))


def _read_type(inferred: T.DataType | None, canonical: T.DataType) -> T.DataType:
    """Type to read a column with, so that every partition file can be decoded.

    Narrow integers/floats are widened (partitions written by different pandas
    versions may disagree on int32/int64); nanosecond timestamps arrive as longs.
    """
    if inferred is None:
        return canonical
    if isinstance(inferred, T.ByteType | T.ShortType | T.IntegerType | T.LongType):
        return T.LongType()
    if isinstance(inferred, T.FloatType | T.DoubleType):
        return T.DoubleType()
    if isinstance(inferred, T.TimestampNTZType):
        return T.TimestampType()
    return inferred


def _to_canonical(column: str, read_type: T.DataType, canonical: T.DataType) -> Column:
    col = F.col(column)
    if isinstance(read_type, T.LongType) and isinstance(canonical, T.TimestampType | T.DateType):
        # nanoseconds since the epoch (pyarrow's default unit for pandas datetimes)
        # integral division: going through DOUBLE would lose sub-microsecond digits of 1.7e18
        col = F.timestamp_micros(F.expr(f"`{column}` div 1000"))
    return col.cast(canonical).alias(column)


def _partition_filter(ent: Entity, columns: list[str], start: datetime | None, end: datetime) -> Column:
    """Predicate on the hive partition columns only, so Spark prunes folders."""
    last = end - timedelta(microseconds=1)
    cond = F.col("dt") <= F.lit(last.date())
    if start is not None:
        cond = cond & (F.col("dt") >= F.lit(start.date()))
    if ent.hourly and "hr" in columns:
        # boundary days: skip the hours outside [start, end) as well
        cond = cond & ((F.col("dt") < F.lit(last.date())) | (F.col("hr") <= F.lit(last.hour)))
        if start is not None:
            cond = cond & ((F.col("dt") > F.lit(start.date())) | (F.col("hr") >= F.lit(start.hour)))
    return cond


def read_raw(
    spark: SparkSession,
    name: str,
    end: datetime,
    start: datetime | None = None,
) -> DataFrame:
    """Rows of raw entity ``name`` whose time column is in ``[start, end)``.

    Only the ``dt`` (and boundary ``hr``) partitions that can hold such rows are
    read; ``start=None`` means every partition before ``end`` (dimensions such as
    users and products). A missing entity folder is not an error: sources differ
    in what they provide (UCI retail has no transactions), so an empty frame with
    the canonical schema is returned and logged.
    """
    ent = entity(name)
    root = lake_uri(dataset_root("raw", name))
    try:
        inferred = spark.read.option("basePath", root).parquet(root).schema
    except AnalysisException as exc:
        if exc.getCondition() in ("PATH_NOT_FOUND", "UNABLE_TO_INFER_SCHEMA"):
            log.warning("raw entity %r has no data at %s (%s); using an empty frame",
                        name, root, exc.getCondition())
            return empty_raw(spark, name)
        raise
    inferred_types = {f.name: f.dataType for f in inferred.fields}
    canonical = canonical_schema(name)
    read_types = {f.name: _read_type(inferred_types.get(f.name), f.dataType) for f in canonical.fields}
    partition_fields = [f for f in _PARTITION_FIELDS if f.name in inferred_types]
    read_schema = T.StructType(
        [T.StructField(n, t) for n, t in read_types.items()] + partition_fields
    )
    frame = spark.read.schema(read_schema).option("basePath", root).parquet(root)
    frame = frame.where(_partition_filter(ent, frame.columns, start, end))
    frame = frame.select(
        *[_to_canonical(f.name, read_types[f.name], f.dataType) for f in canonical.fields]
    )
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
