"""Every PartitionedOperator records its run in monitoring.pipeline_runs: a real ``dag.test()`` of
three probe operators (one writes rows, one skips, one fails) in a throw-away AIRFLOW_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import with_ecomflow_env

REPO = Path(__file__).resolve().parents[2]

PROBE_DAG = '''
from datetime import datetime

from airflow.sdk import DAG, CronDataIntervalTimetable
from ecomflow_airflow.operators import PartitionedOperator


class Writes(PartitionedOperator):
    def execute(self, context):
        return [{"rows_in": 10, "rows_accepted": 9, "rows_quarantined": 1}]


class Skips(PartitionedOperator):
    def execute(self, context):
        from airflow.sdk.exceptions import AirflowSkipException
        raise AirflowSkipException("nothing to do")


class Breaks(PartitionedOperator):
    def execute(self, context):
        raise RuntimeError("probe failure")


with DAG("ecomflow_monitoring_probe", schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
         start_date=datetime(2000, 1, 1), catchup=False, default_args={"retries": 0}) as dag:
    Writes(task_id="writes", cadence="daily")
    Skips(task_id="skips", cadence="daily")
    Breaks(task_id="breaks", cadence="hourly")
'''

RUN = '''
import importlib.util, sys
from datetime import datetime
spec = importlib.util.spec_from_file_location("probe", sys.argv[1])
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
run = module.dag.test(logical_date=datetime.fromisoformat("2026-03-01T00:00:00+00:00"))
print("RUN", run.state, flush=True)
'''


def _read_runs():  # noqa: ANN202 - a frame
    from tasks.monitoring.pipeline_runs import read_task_runs

    return read_task_runs()


def test_partitioned_operators_record_their_runs(tmp_path: Path, migrated_airflow_db: Callable[[Path], None]) -> None:
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    probe = home / "dags" / "ecomflow_monitoring_probe.py"
    probe.write_text(PROBE_DAG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "ECOMFLOW_"))}
    env.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        "ECOMFLOW_HOME": str(tmp_path / "ecomflow"), "ECOMFLOW_WAREHOUSE": "duckdb",
        "ECOMFLOW_PII_KEY": "test-only-dummy-key",
    })
    migrated_airflow_db(home)
    out = subprocess.run([sys.executable, "-c", RUN, str(probe)], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert "RUN failed" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]  # the breaking task fails the run
    runs = with_ecomflow_env(env, _read_runs).set_index("task")
    assert sorted(runs.index) == ["breaks", "skips", "writes"]
    assert {t: runs.loc[t, "status"] for t in runs.index} == {"writes": "success", "skips": "skipped",
                                                             "breaks": "failed"}
    assert (runs["dt"] == date(2026, 2, 28)).all()  # the data interval's day, not the wall clock
    writes = runs.loc["writes"]
    assert (int(writes["rows_in"]), int(writes["rows_out"]), int(writes["quarantined"])) == (10, 9, 1)
    assert writes["quarantined_share"] == pytest.approx(0.1)
    assert int(runs.loc["breaks", "hr"]) == 0 and pd.isna(runs.loc["writes", "hr"])  # hourly vs daily
    assert (runs["duration_s"] >= 0).all() and (runs["run_id"].str.len() > 0).all()
