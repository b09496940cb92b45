"""The operator entry points: due logic, partition -> as_of mapping, scorer dispatch."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tasks.partitions import Partition
from tasks.score.pipeline import SCORERS, run_scorer
from tasks.train.pipeline import TRAINERS, train_if_due
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures import synthetic_frames


def test_train_if_due_trains_once_then_waits(isolated_home) -> None:
    d = date(2024, 3, 1)  # as_of_date of the run for dt = 2024-02-29
    replace_partition("features.transaction_velocity", synthetic_frames.transaction_velocity(d, n=600, seed=4),
                      {"as_of_date": d, "as_of_hour": None}, column_types={"as_of_hour": "TIMESTAMP"})
    first = train_if_due("risk", Partition(date(2024, 2, 29)), "run-1")
    assert first["status"] == "champion"
    assert first["as_of_date"] == "2024-03-01"
    assert train_if_due("risk", Partition(date(2024, 3, 1)), "run-2")["status"] == "not_due"
    forced = train_if_due("risk", Partition(date(2024, 3, 1)), "run-3", force=True)
    assert forced["status"] in ("champion", "challenger")


def test_unknown_names_and_wrong_cadence_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        train_if_due("nope", Partition(date(2024, 3, 1)), "r")
    with pytest.raises(ValueError, match="unknown scorer"):
        run_scorer("nope", Partition(date(2024, 3, 1)), "r")
    with pytest.raises(ValueError, match="hourly scorer"):
        run_scorer("risk_labels", Partition(date(2024, 3, 1)), "r")


def test_hourly_scorer_gets_the_hour_start(isolated_home) -> None:
    hour = datetime(2024, 3, 1, 9)
    frame = synthetic_frames.transaction_velocity(date(2024, 3, 1), n=5, seed=1, as_of_hour=hour)
    replace_partition("features.transaction_velocity", frame, {"as_of_hour": hour},
                      column_types={"as_of_hour": "TIMESTAMP"})
    assert run_scorer("risk_labels", Partition(date(2024, 3, 1), 9), "r") == 5
    assert read_frame("SELECT DISTINCT as_of_hour FROM serving.risk_labels")["as_of_hour"].tolist() == [hour]


def test_names_match_the_dags() -> None:
    assert set(TRAINERS) >= {"recommender", "session_intent", "demand_forecaster", "risk", "campaign_uplift"}
    assert set(SCORERS) >= {"recommendations", "demand_forecasts", "session_intent", "risk_labels",
                            "campaign_audiences"}
