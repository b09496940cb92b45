"""run_monitoring: every part for a daily partition, idempotent, skipping what has no inputs."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from tasks.monitoring.run import run_monitoring
from tasks.monitoring.tables import FEATURE_DRIFT, PREDICTION_DRIFT, REALISED_METRICS
from tasks.partitions import Partition
from tasks.warehouse import read_frame, replace_partition
from tests.monitoring.planting import D, at, plant_events, plant_recommendations

TABLES = (REALISED_METRICS, FEATURE_DRIFT, PREDICTION_DRIFT)


def _plant_day() -> None:
    served = D + timedelta(days=1) - timedelta(days=7)
    plant_recommendations(served, {f"u{i}": [f"p{i}", f"q{i}"] for i in range(4)})
    plant_recommendations(D + timedelta(days=1), {f"u{i}": [f"q{i}", f"p{i}"] for i in range(4)})
    plant_events([("u0", "p0", "purchase", at(served + timedelta(days=1)), "s0"),
                  ("u1", "zz", "purchase", at(served + timedelta(days=1)), "s1"),
                  ("u2", "q2", "view", at(D, 23), "s2")])
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"item_id": [f"p{i}" for i in range(200)], "popularity": rng.random(200),
                          "as_of_date": D + timedelta(days=1), "as_of_hour": None})
    replace_partition("features.item_features", frame, {"as_of_date": D + timedelta(days=1), "as_of_hour": None},
                      column_types={"as_of_hour": "TIMESTAMP"})


def _snapshot() -> dict[str, pd.DataFrame]:
    out = {}
    for table in TABLES:
        frame = read_frame(f"SELECT * FROM {table}")
        out[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def _run_twice_same_rows() -> None:
    _plant_day()
    first = run_monitoring(Partition(D))
    before = _snapshot()
    second = run_monitoring(Partition(D))
    after = _snapshot()
    assert first == second
    for table in TABLES:
        pd.testing.assert_frame_equal(before[table], after[table])
    assert first["realised_metrics"]["recommender"]["rows"] == 3  # hr, ndcg, coverage
    assert len(before[REALISED_METRICS]) == 3
    hr = before[REALISED_METRICS].set_index("metric")["value"]["hr@10"]
    assert hr == pytest.approx(1 / 2)  # u0 bought a recommended item, u1 bought something else
    assert len(before[PREDICTION_DRIFT]) == 2  # score and strategy of rec-v1
    # no references for rec-v1's inputs: skipped with the reason, nothing written
    assert any("no input reference" in r for r in first["feature_drift"]["recommender"]["skipped"])


def test_run_twice_gives_the_same_rows(isolated_home) -> None:  # noqa: ANN001
    _run_twice_same_rows()


@pytest.mark.postgres
def test_run_twice_gives_the_same_rows_on_postgres(postgres_home) -> None:  # noqa: ANN001
    _run_twice_same_rows()


def test_empty_warehouse_skips_every_part_with_a_reason(isolated_home) -> None:  # noqa: ANN001
    summary = run_monitoring(Partition(D))
    for model, part in summary["realised_metrics"].items():
        assert "does not exist" in part["skipped"], model
    for part in ("feature_drift", "prediction_drift"):
        for model, got in summary[part].items():
            assert got["rows"] == 0 and got["skipped"], (part, model)
    for table in TABLES:
        assert read_frame(f"SELECT COUNT(*) AS n FROM {table}")["n"].iloc[0] == 0


def test_hourly_partition_is_refused(isolated_home) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="daily partitions"):
        run_monitoring(Partition(D, 3))
