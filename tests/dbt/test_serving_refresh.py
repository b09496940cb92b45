"""BI is never more than one hour behind: the hourly DAG's serving model tasks, run right
after an hour's risk scores land, makes `risk_review_queue` and `daily_kpis` show them.

Real pieces: the S data through the real loader, dbt builds of the warehouse, the scorer's own
serving writer, and the hourly DAG's tasks taken from the DagBag and executed (real dbt).
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from tasks.cli import backfill_ingest
from tasks.partitions import Partition
from tasks.score.common import write_serving
from tasks.transform import build_layer
from tasks.warehouse import read_frame

HOUR = datetime(2026, 1, 7, 15)


@pytest.fixture(autouse=True)
def _stop_dbt_worker(isolated_home):
    """The model tasks start a warm dbt worker for the test's home; stop it with the test."""
    yield
    from tasks.transform.dbt_runner import dbt_home
    from tasks.transform.dbt_worker import stop_worker

    stop_worker(dbt_home())


def _hourly_serving_model_tasks() -> list:
    """The hourly DAG's dbt serving model tasks, in an order their dependencies allow."""
    from airflow.dag_processing.dagbag import DagBag

    from tasks.transform.dbt_graph import models_in
    from tests.dags.test_dag_integrity import REPO

    dag = DagBag(dag_folder=str(REPO / "dags" / "ecomflow_hourly.py")).dags["ecomflow_hourly"]
    return [dag.get_task(f"serving.{node.name}") for node in models_in(["serving"])
            if f"serving.{node.name}" in dag.task_ids]


def test_an_hours_risk_scores_reach_the_review_queue_and_kpis_in_the_same_run(isolated_home) -> None:
    backfill_ingest(Partition(date(2026, 1, 8)))
    build_layer("warehouse")
    build_layer("serving")  # what the last daily run left: no risk decisions yet
    assert int(read_frame("SELECT COUNT(*) AS n FROM serving.risk_review_queue").iloc[0, 0]) == 0

    payments = read_frame("SELECT transaction_id, user_id, transaction_date FROM marts.fct_transactions "
                          "WHERE transaction_date = :d ORDER BY transaction_id LIMIT 3", {"d": HOUR.date()})
    assert len(payments) == 3
    labels = ["review", "block", "pass"]
    scored = pd.DataFrame({
        "transaction_id": payments["transaction_id"], "user_id": payments["user_id"],
        "risk_score": [0.6, 0.97, 0.01], "label": labels, "action": ["warn", "intercept", "none"],
        "reasons": ["amount_vs_user_median", "new_card_burst", ""], "as_of_date": HOUR.date(),
        "as_of_hour": HOUR, "model_version": "risk-test", "run_id": "hourly-test", "scored_at": HOUR,
    })
    write_serving("serving.risk_labels", scored, {"as_of_hour": HOUR}, model_version="risk-test", run_id="hourly-test")

    # The hourly DAG's own tasks, with the run context of that hour.
    end = datetime(HOUR.year, HOUR.month, HOUR.day, HOUR.hour + 1)
    for task in _hourly_serving_model_tasks():
        task.execute({"data_interval_start": HOUR, "data_interval_end": end, "logical_date": HOUR})

    queue = read_frame("SELECT transaction_id, label, model_version FROM serving.risk_review_queue "
                       "ORDER BY queue_position")
    expected = payments["transaction_id"][:2].tolist()
    assert queue["transaction_id"].tolist() == [expected[1], expected[0]]  # riskiest first
    assert queue["label"].tolist() == ["block", "review"] and set(queue["model_version"]) == {"risk-test"}
    kpis = read_frame("SELECT n_risk_review, n_risk_block FROM serving.daily_kpis WHERE kpi_date = :d",
                      {"d": HOUR.date()})
    assert kpis.iloc[0].tolist() == [1, 1]
