"""The daily DAG's hook: ReportOperator in a real ``dag.test()`` (throw-away AIRFLOW_HOME) on the
small planted warehouse writes the day's reports for every catalogue model and logs where they
are (file and URL in the UI)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from tests.conftest import with_ecomflow_env
from tests.reporting.warehouse import D, plant_warehouse

REPO = Path(__file__).resolve().parents[2]

PROBE_DAG = '''
from datetime import datetime

from airflow.sdk import DAG, CronDataIntervalTimetable
from ecomflow_airflow.operators import ReportOperator

with DAG("ecomflow_report_probe", schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
         start_date=datetime(2000, 1, 1), catchup=False, default_args={"retries": 0}) as dag:
    ReportOperator(task_id="report", cadence="daily")
'''

RUN = '''
import importlib.util, sys
from datetime import datetime
spec = importlib.util.spec_from_file_location("probe", sys.argv[1])
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
run = module.dag.test(logical_date=datetime.fromisoformat(sys.argv[2]))
print("RUN", run.state, flush=True)
'''


def test_the_report_task_writes_the_days_reports_and_logs_where(tmp_path: Path,
                                                                migrated_airflow_db: Callable[[Path], None]) -> None:
    from tasks.pipeline_catalogue import models

    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    probe = home / "dags" / "ecomflow_report_probe.py"
    probe.write_text(PROBE_DAG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "ECOMFLOW_"))}
    env.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__BASE_URL": "http://127.0.0.1:8793",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        "ECOMFLOW_HOME": str(tmp_path / "ecomflow"), "ECOMFLOW_WAREHOUSE": "duckdb",
        "ECOMFLOW_PII_KEY": "test-only-dummy-key",
    })
    with_ecomflow_env(env, plant_warehouse, tmp_path / "ecomflow")
    migrated_airflow_db(home)
    # the run of D's data interval: logical date = its end, D + 1 00:00 (as in test_operator_records_runs)
    out = subprocess.run([sys.executable, "-c", RUN, str(probe), f"{D + timedelta(days=1)}T00:00:00+00:00"], env=env,
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    log = out.stdout + out.stderr
    assert "RUN success" in out.stdout, log[-4000:]
    day = tmp_path / "ecomflow" / "reports" / "ecomflow_report_probe" / D.isoformat()
    assert sorted(p.stem for p in day.glob("*.html")) == sorted([*models(), "index"])
    assert "<svg" in (day / "demand_forecaster.html").read_text()
    assert str(day / "index.html") in log
    assert f"http://127.0.0.1:8793/ecomflow-reports/ecomflow_report_probe/{D.isoformat()}/index.html" in log
