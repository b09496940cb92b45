"""A monitoring retrain request really makes ``ecomflow_retrain`` due (issue 11), without a
running scheduler.

In a migrated SQLite Airflow holding ``dags/ecomflow_retrain.py``: the event the monitoring task
adds (``MonitoringOperator.request_retrain`` into a real ``OutletEventAccessors``, the object
a task's ``outlet_events`` is) is registered the way the API server registers a finished task's
events (``AssetManager.register_asset_change``); then the scheduler's own query for DAGs due
(``DagModel.dags_needing_dagruns``) names ``ecomflow_retrain`` as asset-triggered. The run it
creates hands the event to ``RetrainModelOperator.requested`` (tested in test_dag_integrity.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = '''
import json, os
from sqlalchemy import select
from airflow.assets.manager import AssetManager
from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
from airflow.models.asset import AssetDagRunQueue, AssetModel
from airflow.models.dag import DagModel
from airflow.sdk.execution_time.context import OutletEventAccessors
from airflow.utils.session import create_session
from ecomflow_airflow.assets import retrain_request_alias
from ecomflow_airflow.operators import MonitoringOperator
from tasks.partitions import Partition

DagBundlesManager().sync_bundles_to_db()
folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
bag = BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name="dags-folder")
assert not bag.import_errors, bag.import_errors
sync_bag_to_db(bag, "dags-folder", None)
out = {}
with create_session() as session:
    out["asset_due_before"] = sorted(DagModel.dags_needing_dagruns(session)[1])

outlets = OutletEventAccessors()
summary = {"retrain_models": ["demand_forecaster"], "retrain_reasons": {"demand_forecaster": "avg_price PSI"}}
MonitoringOperator.request_retrain({"outlet_events": outlets}, Partition.parse("2026-02-11"), summary)
(event,) = outlets[retrain_request_alias()].asset_alias_events
with create_session() as session:
    asset = session.scalar(select(AssetModel).where(AssetModel.uri == event.dest_asset_key.uri))
    AssetManager.register_asset_change(asset=asset, extra=event.extra, session=session)
with create_session() as session:
    out["queued"] = sorted(q.target_dag_id for q in session.scalars(select(AssetDagRunQueue)))
    out["asset_due_after"] = sorted(DagModel.dags_needing_dagruns(session)[1])
    out["extra"] = event.extra
print("RESULT " + json.dumps(out))
'''


def test_a_retrain_request_event_makes_the_retrain_dag_due(tmp_path: Path, migrated_airflow_db: Callable[[Path], None]) -> None:
    home, dags = tmp_path / "airflow", tmp_path / "dags"
    dags.mkdir()
    shutil.copy(REPO / "dags" / "ecomflow_retrain.py", dags)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False", "ECOMFLOW_HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
    })
    migrated_airflow_db(home)
    run = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=REPO, capture_output=True, text=True,
                         timeout=180)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["asset_due_before"] == []  # nothing asked for a retrain yet
    assert result["queued"] == ["ecomflow_retrain"]
    assert result["asset_due_after"] == ["ecomflow_retrain"]  # the scheduler's query: due by the asset
    assert result["extra"]["models"] == ["demand_forecaster"] and result["extra"]["as_of_date"] == "2026-02-12"
