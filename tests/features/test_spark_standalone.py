"""Scale-out on a real cluster manager: the feature jobs run on a Spark standalone master and
worker started on 127.0.0.1 from the pyspark installation (what docker-compose's spark-master /
spark-worker run), through the same ``spark-submit`` path a deployment uses (code shipped as a
zip with ``--py-files``, executors in the worker's own JVM), and give the same rows as
``local[*]``. Nothing in the feature code may assume one process or one machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.features.test_submit_publish import EVENTS, PRODUCTS, TRANSACTIONS, USERS

pytestmark = pytest.mark.timeout(600)
JOBS = ["transaction_velocity", "session_features"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_class(*args: str, log: Path) -> subprocess.Popen:
    spark_class = Path(sys.executable).parent / "spark-class"
    env = {**os.environ, "SPARK_NO_DAEMONIZE": "true", "SPARK_LOCAL_IP": "127.0.0.1"}
    return subprocess.Popen([str(spark_class), *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as response:
            state = json.load(response)
    except OSError:
        return 0
    return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A master and one worker (1 core, 1 GiB) on 127.0.0.1; yields the master URL."""
    folder = tmp_path_factory.mktemp("spark_standalone")
    port, ui_port, worker_ui = _free_port(), _free_port(), _free_port()
    master = _spark_class("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                          "--webui-port", str(ui_port), log=folder / "master.log")
    worker = _spark_class("org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}", "--host",
                          "127.0.0.1", "--cores", "1", "--memory", "1g", "--webui-port", str(worker_ui),
                          "--work-dir", str(folder / "work"), log=folder / "worker.log")
    try:
        deadline = time.monotonic() + 120
        while _alive_workers(ui_port) < 1:
            if time.monotonic() > deadline or master.poll() is not None or worker.poll() is not None:
                raise RuntimeError("the standalone cluster did not come up:\n"
                                   + (folder / "master.log").read_text()[-2000:]
                                   + (folder / "worker.log").read_text()[-2000:])
            time.sleep(1)
        yield f"spark://127.0.0.1:{port}"
    finally:
        for proc in (worker, master):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)


def _outputs(monkeypatch: pytest.MonkeyPatch, master: str, as_of: str) -> dict[str, pd.DataFrame]:
    from tasks.features.submit import submit_feature_jobs
    from tasks.settings import get_settings

    monkeypatch.setenv("ECOMFLOW_SPARK_MASTER", master)
    monkeypatch.delenv("ECOMFLOW_SPARK_REMOTE", raising=False)
    get_settings.cache_clear()
    assert get_settings().spark_master == master
    return {job: _read_sorted(folder) for job, folder in submit_feature_jobs(JOBS, as_of).items()}


def _read_sorted(folder: str) -> pd.DataFrame:
    """A written feature set, in a fixed row order (by its first two columns) for comparison."""
    frame = pd.read_parquet(folder)
    return frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)


def _local_outputs(spark, as_of: str) -> dict[str, pd.DataFrame]:  # noqa: ANN001 - the session fixture
    """The same jobs' code in the suite's local[2] session, written and read back as the cluster's
    (spark-submit on local[*] itself is covered by test_submit_publish; a second JVM here cost ~40 s)."""
    from tasks.features.catalogue import RunPoint
    from tasks.features.run_job import run_feature_job

    point = RunPoint.parse(as_of, None)
    return {job: _read_sorted(run_feature_job(spark, job, point)) for job in JOBS}


def test_feature_jobs_on_a_standalone_cluster_match_local(write_raw, standalone_cluster: str, spark,  # noqa: ANN001
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.settings import get_settings

    write_raw("users", USERS)
    write_raw("transactions", TRANSACTIONS)
    write_raw("events", EVENTS)
    write_raw("products", PRODUCTS)
    local = _local_outputs(spark, "2024-03-10")
    cluster = _outputs(monkeypatch, standalone_cluster, "2024-03-10")
    log_text = (get_settings().home / "logs" / "features" / f"{'+'.join(JOBS)}-2024-03-10.log").read_text()
    assert f"on {standalone_cluster}" in log_text, "the second run did not use the standalone master"
    for job in JOBS:
        assert len(local[job]) > 0, job
        pd.testing.assert_frame_equal(local[job], cluster[job], check_like=True)
    get_settings.cache_clear()
