"""A backfill of 14 daily partitions equals 14 separate daily runs; late data needs one re-run.

The DAGs' data-producing steps are partition-scoped functions (``ingest``, the Spark feature
jobs, ``publish_feature_set``), so these tests drive those same functions without Airflow:

* "separate runs": for each day, ingest it, then compute that day's features, as 14 scheduled
  runs would (each run sees only the lake as it was then);
* "backfill": load all 14 days with the historical-load entry point (``ecomflow
  backfill-ingest``), then compute the features, so every feature run sees a lake that already
  holds later days.

The resulting raw, audit and feature tables (and the lake files) must be identical except for
``run_id``, which records which run wrote a row and so differs by design. Features are computed
for the first, middle and last day with the two daily jobs that look furthest back, to keep the
test to about a minute.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import _reset_settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DAYS = 14
FEATURE_JOBS = ("daily_item_sales", "transaction_velocity")


def _use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("ECOMFLOW_HOME", str(home))
    monkeypatch.setenv("ECOMFLOW_WAREHOUSE", "duckdb")
    monkeypatch.setenv("ECOMFLOW_PII_KEY", "test-only-dummy-key")
    monkeypatch.setenv("ECOMFLOW_SOURCE", "synthetic")
    monkeypatch.setenv("ECOMFLOW_SYNTHETIC_SIZE", "S")
    _reset_settings()


def _features(spark, day: date) -> None:  # noqa: ANN001 - SparkSession fixture
    from tasks.features.catalogue import RunPoint
    from tasks.features.publish import publish_feature_set
    from tasks.features.run_job import run_feature_job

    point = RunPoint(day + timedelta(days=1))  # the daily run for dt = day is as of day + 1
    for job in FEATURE_JOBS:
        run_feature_job(spark, job, point)
        publish_feature_set(job, point.as_of_date, None)


def _lake_tables(home: Path) -> dict[str, pd.DataFrame]:
    found = {}
    for path in sorted((home / "lake").rglob("part-0.parquet")):
        if "/features/" in str(path):
            continue  # Spark writes features as several part files; compared via the warehouse table
        found[str(path.relative_to(home))] = pq.read_table(path).to_pandas()
    return found


def test_backfill_of_14_days_equals_14_separate_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     spark) -> None:  # noqa: ANN001
    from tasks.cli import backfill_ingest
    from tasks.ingest.load import ingest
    from tasks.ingest.sources import get_source
    from tasks.partitions import Partition
    from tasks.settings import get_settings
    from tasks.warehouse.fingerprint import diff_fingerprints, fingerprint_warehouse

    separate, backfill = tmp_path / "separate", tmp_path / "backfill"
    _use_home(monkeypatch, separate)
    first = get_source(get_settings().source).coverage()[0].date() + timedelta(days=20)
    days = [first + timedelta(days=i) for i in range(DAYS)]
    feature_days = {days[0], days[DAYS // 2], days[-1]}

    for day in days:
        ingest(Partition(day), f"scheduled__{day}")
        if day in feature_days:
            _features(spark, day)
    separate_fp = fingerprint_warehouse(["raw", "audit", "features"], exclude_columns=["run_id"])
    separate_lake = _lake_tables(separate)

    _use_home(monkeypatch, backfill)
    backfill_ingest(Partition(days[-1] + timedelta(days=1)), Partition(days[0]), run_id="backfill__2026")
    for day in sorted(feature_days):
        _features(spark, day)
    backfill_fp = fingerprint_warehouse(["raw", "audit", "features"], exclude_columns=["run_id"])
    backfill_lake = _lake_tables(backfill)

    assert sum(fp.rows for t, fp in separate_fp.items() if t.startswith("raw.")) > 1000
    assert {t for t, fp in separate_fp.items() if t.startswith("features.") and fp.rows} == \
        {f"features.{job}" for job in FEATURE_JOBS}
    assert diff_fingerprints(separate_fp, backfill_fp) == []
    assert sorted(separate_lake) == sorted(backfill_lake) and separate_lake
    for path, frame in separate_lake.items():
        pd.testing.assert_frame_equal(frame, backfill_lake[path], obj=path)


def _write_orders(folder: Path, rows: list[tuple[str, str, float]]) -> Path:
    """A mapping source of order lines: (order_id, ordered_at, unit_price)."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "order": [r[0] for r in rows], "at": [r[1] for r in rows], "price": [r[2] for r in rows],
        "user": "u1", "item": "p1", "qty": 1,
    }).to_csv(folder / "orders.csv", index=False)
    mapping = folder / "shop.yml"
    mapping.write_text(f"""
source_name: latetest
files:
  - path: {folder / 'orders.csv'}
    format: csv
    entity: order_lines
    timestamp: {{column: at, format: iso8601}}
    columns:
      order_id: order
      line_number: {{row_number: true, within: [order]}}
      user_id: user
      product_id: item
      quantity: qty
      unit_price: price
""")
    return mapping


def test_late_data_is_picked_up_by_rerunning_only_its_partition(isolated_home: Path, tmp_path: Path) -> None:
    from tasks.ingest.load import ingest
    from tasks.partitions import Partition
    from tasks.warehouse import read_frame
    from tasks.warehouse.fingerprint import fingerprint_table

    days = [date(2026, 3, d) for d in (1, 2, 3)]
    on_time = [(f"o{d.day}-{i}", f"{d} 1{i}:00:00", 5.0 + i) for d in days for i in range(3)]
    mapping = _write_orders(tmp_path / "src", on_time)
    for day in days:
        ingest(Partition(day), f"run-{day}", source_spec=str(mapping))

    def day_rows(day: date) -> pd.DataFrame:
        return read_frame("SELECT order_id, unit_price FROM raw.order_lines WHERE dt = :d ORDER BY order_id",
                          {"d": day})

    untouched = {d: day_rows(d) for d in (days[0], days[2])}
    # Two orders of 2 March arrive a day late, appended to the same export.
    late = [("late-1", "2026-03-02 20:00:00", 7.5), ("late-2", "2026-03-02 21:00:00", 8.5)]
    mapping = _write_orders(tmp_path / "src", on_time + late)
    log_before = fingerprint_table("audit.load_log")
    ingest(Partition(days[1]), "rerun-2026-03-02", source_spec=str(mapping))

    assert day_rows(days[1])["order_id"].tolist() == ["late-1", "late-2", "o2-0", "o2-1", "o2-2"]
    for day, frame in untouched.items():
        pd.testing.assert_frame_equal(day_rows(day), frame)
    # order_lines only: the users and products this source lacks are derived from the orders
    # and have load_log rows of their own.
    log = read_frame("SELECT dt, rows_in, rows_accepted, run_id FROM audit.load_log "
                     "WHERE entity = 'order_lines' ORDER BY dt")
    assert log["rows_in"].tolist() == [3, 5, 3] and log["rows_accepted"].tolist() == [3, 5, 3]
    assert log["run_id"].tolist() == ["run-2026-03-01", "rerun-2026-03-02", "run-2026-03-03"]
    assert fingerprint_table("audit.load_log") != log_before
