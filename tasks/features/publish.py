"""Publish a feature job's Parquet output into the warehouse table ``features.<set>``.

Runs without Spark (pyarrow + pandas), so the warehouse write happens in the
scheduler's process where the DuckDB single-writer lock is managed. The table
partition ``(as_of_date, as_of_hour)`` is replaced atomically: re-publishing the
same run never duplicates rows. Before the write, the run's columns (names in order, warehouse
types) must be the ones declared in ``tasks/contracts/features_schema.py``; otherwise
``FeatureOutputMismatch`` names the table and the column.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from tasks.contracts.features_schema import FeatureOutputMismatch, check_output
from tasks.features.catalogue import RunPoint, get_job
from tasks.features.paths import feature_output_path, lake_uri
from tasks.warehouse import replace_partition

log = logging.getLogger(__name__)

__all__ = ["FeatureOutputMismatch", "FeatureOutputMissing", "publish_feature_set", "read_feature_output",
           "sql_type", "to_warehouse_frame"]


class FeatureOutputMissing(FileNotFoundError):
    """The Spark job has not (completely) written this run's output."""


def sql_type(arrow_type: pa.DataType) -> str:
    """Warehouse column type for an Arrow type, so empty outputs still create typed tables."""
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "DOUBLE PRECISION"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_date(arrow_type):
        return "DATE"
    return "TEXT"


def to_warehouse_frame(table: pa.Table) -> pd.DataFrame:
    """pandas frame with warehouse-friendly dtypes.

    Dates stay python ``date`` objects, timestamps become naive UTC
    ``datetime64`` (Spark writes instants; the project stores naive UTC), integers
    and booleans use nullable dtypes so a null does not turn them into floats/objects.
    """
    frame = table.to_pandas(
        types_mapper={
            pa.int8(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype(),
            pa.int32(): pd.Int64Dtype(), pa.int64(): pd.Int64Dtype(),
            pa.bool_(): pd.BooleanDtype(),
        }.get,
        date_as_object=True,
    )
    for field in table.schema:
        if pa.types.is_timestamp(field.type):
            col = pd.to_datetime(frame[field.name])
            if col.dt.tz is not None:
                col = col.dt.tz_convert("UTC").dt.tz_localize(None)
            frame[field.name] = col.astype("datetime64[ns]")
    return frame


def read_feature_output(feature_set: str, as_of_date: date, as_of_hour: datetime | None = None) -> pa.Table:
    """The Parquet a finished run wrote; refuses a folder without Spark's ``_SUCCESS`` marker."""
    uri = lake_uri(feature_output_path(feature_set, as_of_date, as_of_hour))
    filesystem, path = pafs.FileSystem.from_uri(uri) if "://" in uri else (pafs.LocalFileSystem(), uri)
    marker = filesystem.get_file_info(f"{path}/_SUCCESS")
    if marker.type == pafs.FileType.NotFound:
        raise FeatureOutputMissing(
            f"no complete output for {feature_set} at {uri} (missing _SUCCESS); run the Spark job first"
        )
    return pads.dataset(path, filesystem=filesystem, format="parquet").to_table()


def publish_feature_set(
    feature_set: str,
    as_of_date: date | str,
    as_of_hour: datetime | str | None = None,
) -> int:
    """Replace partition ``(as_of_date, as_of_hour)`` of ``features.<set>`` with the lake output.

    Returns the number of rows published. Raises ``FeatureOutputMismatch`` (nothing written) when
    the output's columns or their types differ from the declaration.
    """
    get_job(feature_set)  # validates the name before it reaches SQL
    point = RunPoint.parse(as_of_date, as_of_hour)
    table = read_feature_output(feature_set, point.as_of_date, point.as_of_hour)
    column_types = {field.name: sql_type(field.type) for field in table.schema}
    check_output(feature_set, column_types.items())
    frame = to_warehouse_frame(table)
    partition = {"as_of_date": point.as_of_date, "as_of_hour": point.as_of_hour}
    rows = replace_partition(f"features.{feature_set}", frame, partition, column_types=column_types)
    log.info("published %d rows to features.%s for %s", rows, feature_set, point.label)
    return rows
