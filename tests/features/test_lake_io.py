"""Reading the raw lake: canonical types, partition pruning, missing entities; the session."""

from __future__ import annotations

import logging
from datetime import date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import types as T

from tasks.features.lake_io import canonical_schema, read_raw
from tasks.features.paths import lake_uri

EVENTS = [
    {"event_id": "e1", "session_id": "s1", "event_type": "view", "product_id": "p1", "price": 1.5,
     "event_at": "2024-03-01 10:15:00.123456"},
    {"event_id": "e2", "session_id": "s1", "event_type": "view", "event_at": "2024-03-02 00:30:00"},
    {"event_id": "e3", "session_id": "s2", "event_type": "cart", "event_at": "2024-03-03 05:00:00"},
]


def test_session_is_configured_for_reproducible_local_runs(spark):
    conf = spark.conf
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.sql.shuffle.partitions") == "4"
    assert spark.sparkContext.getConf().get("spark.ui.enabled") == "false"
    assert spark.sparkContext.master == "local[2]"


def test_spark_conf_overrides(isolated_home):
    from tasks.features.session import spark_conf

    assert spark_conf()["spark.sql.shuffle.partitions"] == "4"
    assert spark_conf(shuffle_partitions=16)["spark.sql.shuffle.partitions"] == "16"
    assert spark_conf(extra_conf={"spark.executor.memory": "4g"})["spark.executor.memory"] == "4g"
    with pytest.raises(ValueError, match="shuffle_partitions"):
        spark_conf(shuffle_partitions=0)


def test_reads_canonical_types_from_ingestion_parquet(spark, write_raw, collect_by):
    files = write_raw("events", EVENTS)
    assert [p.parent.relative_to(p.parents[3]).as_posix() for p in files] == [
        "events/dt=2024-03-01/hr=10", "events/dt=2024-03-02/hr=00", "events/dt=2024-03-03/hr=05"]
    df = read_raw(spark, "events", end=datetime(2024, 3, 4))
    assert df.schema == canonical_schema("events")
    assert isinstance(df.schema["event_at"].dataType, T.TimestampType)
    rows = collect_by(df, "event_id")
    assert set(rows) == {"e1", "e2", "e3"}
    assert rows["e1"]["event_at"] == "2024-03-01 10:15:00"
    assert rows["e1"]["price"] == 1.5
    micros = df.where("event_id = 'e1'").selectExpr("unix_micros(event_at) % 1000000 AS us").first()
    assert micros.us == 123456  # nanosecond Parquet timestamps keep their microseconds


def test_reads_only_partitions_inside_the_window(spark, write_raw):
    write_raw("events", EVENTS)
    daily = read_raw(spark, "events", start=datetime(2024, 3, 2), end=datetime(2024, 3, 3))
    assert [r.event_id for r in daily.collect()] == ["e2"]
    # Spark is handed only the files of the window's partitions
    assert [f.split("/raw/")[1] for f in daily.inputFiles()] == ["events/dt=2024-03-02/hr=00/part-0.parquet"]
    hourly = read_raw(spark, "events", start=datetime(2024, 3, 1, 11), end=datetime(2024, 3, 3, 6))
    assert sorted(r.event_id for r in hourly.collect()) == ["e2", "e3"]
    assert len(hourly.inputFiles()) == 2  # dt=2024-03-01/hr=10 is before 11:00


def test_files_with_different_physical_types_are_read_together(spark, isolated_home, collect_by):
    """What pandas-based ingestion really writes: all-null columns typed ``null``, ns/us
    timestamps, int32/int64, and empty partition files."""
    import pandas as pd
    import pyarrow as pa

    from tasks.lake import partition_dir, write_partition
    from tasks.partitions import Partition

    def put(day: int, hour: int, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        write_partition(table, partition_dir("raw", "order_lines", Partition(date(2024, 3, day), hour)))

    put(1, 10, pd.DataFrame({  # typed columns, microsecond timestamps
        "order_id": ["o1"], "line_number": pd.array([1], dtype="Int64"), "user_id": ["u1"],
        "product_id": ["p1"], "quantity": pd.array([2], dtype="Int64"), "unit_price": [3.5],
        "is_cancellation": pd.array([False], dtype="boolean"),
        "ordered_at": pd.to_datetime(["2024-03-01 10:00:00"]).astype("datetime64[us]")}))
    put(1, 11, pd.DataFrame({  # user_id all null -> Arrow null type; int32; ns timestamps; no country
        "order_id": ["o2"], "line_number": pd.array([1], dtype="int32"), "user_id": [None],
        "product_id": ["p2"], "quantity": pd.array([1], dtype="int32"), "unit_price": [1.0],
        "ordered_at": pd.to_datetime(["2024-03-01 11:30:00"])}))
    put(1, 12, pd.DataFrame({c: pd.Series([], dtype=object) for c in ("order_id", "user_id")}))  # empty

    rows = collect_by(read_raw(spark, "order_lines", end=datetime(2024, 3, 2)), "order_id")
    assert set(rows) == {"o1", "o2"}
    assert rows["o2"]["user_id"] is None and rows["o2"]["quantity"] == 1
    assert rows["o2"]["ordered_at"] == "2024-03-01 11:30:00" and rows["o2"]["is_cancellation"] is None
    assert rows["o1"]["user_id"] == "u1" and rows["o1"]["is_cancellation"] is False


def test_date_partitioned_entity_is_cut_at_the_as_of_date(spark, write_raw):
    write_raw("daily_sales", [
        {"product_id": "p1", "store_id": "all", "units": 2.0, "sales_date": "2024-03-01"},
        {"product_id": "p1", "store_id": "all", "units": 3.0, "sales_date": "2024-03-02"},
    ])
    df = read_raw(spark, "daily_sales", end=datetime(2024, 3, 2))
    assert df.schema == canonical_schema("daily_sales")
    assert [r.units for r in df.collect()] == [2.0]


def test_missing_entity_is_an_empty_frame_and_a_log_line(spark, isolated_home, caplog):
    with caplog.at_level(logging.WARNING, logger="tasks.features.lake_io"):
        df = read_raw(spark, "transactions", end=datetime(2024, 3, 2))
    assert df.schema == canonical_schema("transactions")
    assert df.count() == 0
    assert "transactions" in caplog.text and "empty" in caplog.text


def test_lake_uri_keeps_object_store_schemes():
    from pathlib import Path

    assert lake_uri(Path("s3a://bucket/lake") / "raw") == "s3a://bucket/lake/raw"
    assert lake_uri(Path("/tmp/lake")) == "/tmp/lake"


def test_compacted_days_replace_their_hours_and_never_count_twice(spark, isolated_home):
    """Ingestion writes a whole day of an hourly entity as hour files plus one compacted file;
    readers use the compacted file only while it names exactly the day's current hour files.
    A re-loaded hour (hourly run) or an hour rewritten by anything else sends the reader back to
    the hours: each row is read once, in its latest version."""
    import numpy as np
    import pandas as pd

    from tasks import lake
    from tasks.ingest.load import day_number, stage_lake
    from tasks.ingest.schema import entity
    from tasks.partitions import Partition

    ent = entity("events")
    march_1, march_2 = Partition(date(2024, 3, 1)), Partition(date(2024, 3, 2))

    def load(rows: list[dict], partitions: list[Partition]) -> None:
        frame = pd.DataFrame(rows).reindex(columns=ent.column_names)
        frame["event_at"] = pd.to_datetime(frame["event_at"])
        pending = lake.PendingWrites()
        stage_lake("raw", ent, frame, np.array([day_number(t.date()) for t in frame["event_at"]]), partitions,
                   pending)
        pending.publish()

    def read(start: datetime = datetime(2024, 3, 1)) -> tuple[dict, list[str]]:
        df = read_raw(spark, "events", start=start, end=datetime(2024, 3, 3))
        rows = [(r.event_id, r.price) for r in df.collect()]
        assert len(rows) == len({event_id for event_id, _ in rows}), rows  # never twice
        return dict(rows), sorted(f.split("/lake/")[1].split("/part-0")[0] for f in df.inputFiles())

    load([{**EVENTS[0], "event_at": "2024-03-01 10:15:00"}, {**EVENTS[1], "event_at": "2024-03-01 11:00:00"},
          {**EVENTS[2], "event_at": "2024-03-02 05:00:00"}], [march_1, march_2])
    assert read() == ({"e1": 1.5, "e2": None, "e3": None},
                      ["compacted/events/dt=2024-03-01", "compacted/events/dt=2024-03-02"])
    # a day only partly inside the window is read from its hours
    assert read(datetime(2024, 3, 1, 11))[1] == ["compacted/events/dt=2024-03-02", "raw/events/dt=2024-03-01/hr=11"]

    # the hourly run re-loads 11:00 with a changed row and a new one: the day's copy is dropped
    load([{**EVENTS[1], "event_at": "2024-03-01 11:00:00", "price": 9.0},
          {**EVENTS[1], "event_id": "e4", "event_at": "2024-03-01 11:30:00"}], [Partition(march_1.dt, 11)])
    assert read() == ({"e1": 1.5, "e2": 9.0, "e3": None, "e4": None},
                      ["compacted/events/dt=2024-03-02", "raw/events/dt=2024-03-01/hr=10",
                       "raw/events/dt=2024-03-01/hr=11"])

    # the next daily load compacts the day again; then an hour rewritten outside ingestion makes it stale
    load([{**EVENTS[0], "event_at": "2024-03-01 10:15:00"}, {**EVENTS[1], "event_at": "2024-03-01 11:00:00"}],
         [march_1])
    assert read() == ({"e1": 1.5, "e2": None, "e3": None},
                      ["compacted/events/dt=2024-03-01", "compacted/events/dt=2024-03-02"])
    hour_10 = lake.partition_dir("raw", "events", Partition(march_1.dt, 10))
    table = pq.read_table(hour_10 / "part-0.parquet")
    lake.write_partition(table.set_column(table.schema.get_field_index("price"), "price",
                                          pa.array([2.5], pa.float64())), hour_10)
    assert (lake.compacted_day_dir("events", march_1) / "part-0.parquet").exists()
    assert read()[0] == {"e1": 2.5, "e2": None, "e3": None}
