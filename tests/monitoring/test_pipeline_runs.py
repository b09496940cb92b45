"""monitoring.pipeline_runs: one row per task and partition, replaced on a re-run."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

import pandas as pd
import pytest

from tasks.ingest.load import LoadResult
from tasks.monitoring.pipeline_runs import counts_from_result, read_task_runs, record_task_run
from tasks.partitions import Partition


def test_record_replaces_the_task_partition_row(any_warehouse: str) -> None:
    day = Partition(date(2026, 3, 10))
    hour = Partition(date(2026, 3, 10), 7)
    record_task_run("ingest.load", day, 200, 190, 10, 3.5, run_id="r1")
    record_task_run("ingest.load", hour, 20, 20, 0, 0.5, run_id="r1")
    record_task_run("ingest.load", day, 100, 98, 2, 1.25, run_id="r2")  # the retry replaces the day's row
    record_task_run("score.recommendations", day, None, 42, None, 2.0, status="success")
    runs = read_task_runs("ingest.load")
    assert len(runs) == 2
    daily = runs[runs["hr"].isna()].iloc[0]
    assert (int(daily["rows_in"]), int(daily["rows_out"]), int(daily["quarantined"])) == (100, 98, 2)
    assert daily["quarantined_share"] == pytest.approx(2 / 100)
    assert daily["duration_s"] == pytest.approx(1.25) and daily["run_id"] == "r2"
    hourly = runs[runs["hr"].notna()].iloc[0]
    assert int(hourly["hr"]) == 7 and hourly["quarantined_share"] == 0
    scored = read_task_runs("score.recommendations").iloc[0]
    assert int(scored["rows_out"]) == 42 and pd.isna(scored["rows_in"]) and pd.isna(scored["quarantined_share"])
    assert len(read_task_runs(first=date(2026, 3, 11))) == 0


def test_record_rejects_bad_input(isolated_home) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="status"):
        record_task_run("t", Partition(date(2026, 3, 10)), 1, 1, 0, 1.0, status="done")
    with pytest.raises(ValueError, match="duration"):
        record_task_run("t", Partition(date(2026, 3, 10)), 1, 1, 0, -1.0)


def test_counts_from_operator_results() -> None:
    loads = [asdict(LoadResult("synthetic", "events", "2026-03-10", 100, 97, 3, "loaded")),
             asdict(LoadResult("synthetic", "orders", "2026-03-10", 10, 10, 0, "loaded"))]
    assert counts_from_result(loads) == (110, 107, 3)
    assert counts_from_result(42) == (None, 42, None)
    assert counts_from_result({"rows_written": 5}) == (None, 5, None)
    assert counts_from_result([{"suite": "raw_events", "success": True}]) == (None, None, None)
    assert counts_from_result(True) == (None, None, None)
    assert counts_from_result(None) == (None, None, None)
