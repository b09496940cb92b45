"""Builders for the feature tests: tiny typed Spark frames and a tiny raw lake.

Frames are built from text and cast by Spark (session zone UTC), so results do
not depend on the Python process's local time zone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

Rows = Iterable[Mapping[str, Any]]


@pytest.fixture(scope="session")
def frame(spark) -> Callable[[str, Rows], Any]:
    """``frame(entity, rows)`` -> DataFrame with the canonical schema of ``entity``.

    Missing columns are null; values may be given as text (``"2024-03-01 10:00:00"``).
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from tasks.features.lake_io import canonical_schema

    def build(entity: str, rows: Rows) -> Any:
        schema = canonical_schema(entity)
        as_text = T.StructType([T.StructField(f.name, T.StringType()) for f in schema.fields])
        data = [
            tuple(None if row.get(f.name) is None else str(row[f.name]) for f in schema.fields)
            for row in rows
        ]
        unknown = {k for row in rows for k in row} - set(schema.fieldNames())
        assert not unknown, f"{entity} has no columns {unknown}"
        raw = spark.createDataFrame(data, as_text)
        return raw.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])

    return build


@pytest.fixture(scope="session")
def collect_by() -> Callable[[Any, str | tuple[str, ...]], dict]:
    """``collect_by(df, key)`` -> {key value: row dict}; timestamps/dates as ISO text."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    def run(df: Any, key: str | tuple[str, ...]) -> dict:
        cols = []
        for field in df.schema.fields:
            if isinstance(field.dataType, T.TimestampType):
                cols.append(F.date_format(field.name, "yyyy-MM-dd HH:mm:ss").alias(field.name))
            elif isinstance(field.dataType, T.DateType):
                cols.append(F.date_format(field.name, "yyyy-MM-dd").alias(field.name))
            else:
                cols.append(F.col(field.name))
        rows = [r.asDict() for r in df.select(cols).collect()]
        keys = (key,) if isinstance(key, str) else key
        out = {}
        for row in rows:
            k = row[keys[0]] if len(keys) == 1 else tuple(row[c] for c in keys)
            assert k not in out, f"duplicate key {k}"
            out[k] = row
        return out

    return run


_ARROW = {
    "string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
    # pandas' default unit, which tasks.lake.write_partition passes through to Parquet
    "timestamp": pa.timestamp("ns"), "date": pa.date32(),
}


@pytest.fixture
def write_raw(isolated_home) -> Callable[[str, Rows], list]:
    """``write_raw(entity, rows)`` writes rows into the isolated lake like ingestion does:
    ``raw/<entity>/dt=YYYY-MM-DD[/hr=HH]/part-0.parquet`` via ``tasks.lake.write_partition``."""
    from tasks.ingest.schema import entity as get_entity
    from tasks.lake import partition_dir, write_partition
    from tasks.partitions import Partition

    def write(entity: str, rows: Rows) -> list:
        ent = get_entity(entity)
        frame = pd.DataFrame(list(rows))
        for col in ent.columns:
            if col.name not in frame:
                frame[col.name] = None
            if col.type == "timestamp":
                frame[col.name] = pd.to_datetime(frame[col.name], format="ISO8601")
            elif col.type == "date":
                frame[col.name] = pd.to_datetime(frame[col.name], format="ISO8601").dt.date
        frame = frame[ent.column_names]
        moments = pd.to_datetime(frame[ent.time_column], format="ISO8601")
        keys = moments.dt.strftime("%Y-%m-%d %H") if ent.hourly else moments.dt.strftime("%Y-%m-%d 00")
        written = []
        for key, part in frame.groupby(keys):
            day, hour = key.split(" ")
            partition = Partition(date.fromisoformat(day), int(hour) if ent.hourly else None)
            schema = pa.schema([(c.name, _ARROW[c.type]) for c in ent.columns])
            table = pa.Table.from_pandas(part, schema=schema, preserve_index=False)
            written.append(write_partition(table, partition_dir("raw", entity, partition)))
        return written

    return write

