"""Both DAGs under a real Airflow 3 scheduler (api-server + scheduler + dag-processor, LocalExecutor),
with the warehouse and Airflow's metadata on PostgreSQL (as in docker-compose).

`scheduler.use_job_schedule=False` keeps the scheduler from creating cron runs for the real
"today" (for which the synthetic source has no data); the historical partitions are run as
Airflow backfills, which go through the scheduler, the executor and the task-execution API
exactly as scheduled runs do in production.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import _pg_admin_execute, _pg_admin_query
from tests.e2e.test_pipeline import REPO, _assert_no_raw_pii, _check_serving, _env, _fingerprints, _run

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1800)]
BI_PASSWORD = "test-only-dummy-bi-password"  # the local server trusts 127.0.0.1 and ignores it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_run(dag_id: str, logical_prefix: str, env: dict[str, str], log: Path, timeout_s: int) -> str:
    """The run's state, read from the Airflow metadata database every 3 s.

    Why not ``airflow dags list-runs``: each CLI call starts a Python process with Airflow
    (several CPU seconds), which on a 2-core machine competes with the very tasks it waits for.
    """
    airflow_db = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].rsplit("/", 1)[-1]
    deadline = time.monotonic() + timeout_s
    state = "unknown"
    while time.monotonic() < deadline:
        rows = _pg_admin_query(
            "SELECT state, to_char(logical_date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') FROM dag_run "
            f"WHERE dag_id = '{dag_id}'", dbname=airflow_db)  # dag_id: one of this test's literals
        with log.open("a") as out:
            out.write(f"{dag_id} {logical_prefix}: {rows}\n")
        state = next((str(r[0]) for r in rows if str(r[1]).startswith(logical_prefix)), "missing")
        if state in ("success", "failed"):
            return state
        time.sleep(3)
    return f"timeout (last state {state})"


def _backfill(dag_id: str, start: str, env: dict[str, str], tmp_path: Path) -> str:
    """Run one historical interval through the scheduler.

    In Airflow 3 a manual trigger gets the data interval of *now* whatever its logical date;
    a backfill run gets the interval that starts at its logical date, like a scheduled run.
    """
    cmd = (f"airflow backfill create --dag-id {dag_id} --from-date {start} --to-date {start} "
           "--reprocess-behavior completed")
    log = tmp_path / f"backfill_create_{dag_id}.log"
    # The scheduler marks a finished backfill complete a little after its last run succeeded;
    # until then Airflow refuses a second backfill of the same DAG.
    for _ in range(60):
        proc = subprocess.run(["bash", "-c", f"source scripts/env.sh && {cmd}"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)
        log.write_text(proc.stdout + proc.stderr)
        if proc.returncode == 0:
            return start
        assert "AlreadyRunningBackfill" in proc.stderr, f"`{cmd}` failed (log {log}):\n{proc.stderr[-3000:]}"
        time.sleep(5)
    raise AssertionError(f"the previous backfill of {dag_id} never completed (log {log})")


def _assert_bi_reader_reads_serving_only(db: str, role: str) -> None:
    """The daily DAG's grant_bi_reader task left a role that BI can log in as (the local server
    trusts 127.0.0.1): it reads the serving tables the DAGs wrote and is refused everything else."""
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user=role, password=BI_PASSWORD, dbname=db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM serving.recommendations")
            assert cur.fetchone()[0] > 0
        conn.rollback()
        for table in ("raw.events", "audit.load_log", "marts.fct_events", "features.user_profile",
                      "ml.model_registry"):
            with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(f"SELECT 1 FROM {table} LIMIT 1")
            conn.rollback()
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("DELETE FROM serving.recommendations")
        conn.rollback()
    finally:
        conn.close()


def test_both_dags_under_a_real_scheduler_on_postgres(tmp_path: Path, pg_role: str) -> None:
    db = f"ecomflow_sched_{uuid.uuid4().hex[:8]}"
    # Airflow's own metadata on PostgreSQL too, as in docker-compose: a scheduler, a dag-processor,
    # an api-server and LocalExecutor workers all write it at once, which SQLite serialises with a
    # file lock ("database is locked" under load).
    airflow_db = f"{db}_airflow"
    _pg_admin_execute(f'CREATE DATABASE "{db}"')
    _pg_admin_execute(f'CREATE DATABASE "{airflow_db}"')
    home = tmp_path / "home"
    env = _env(home, "postgres", db)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{airflow_db}"
    # BI logins enabled as a deployment does it, on a role of this test's own (roles are cluster-wide).
    env.update({"ECOMFLOW_BI_READER_ROLE": pg_role, "ECOMFLOW_BI_READER_PASSWORD": BI_PASSWORD})
    port = _free_port()
    env.update({
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    })
    procs: list[subprocess.Popen] = []
    try:
        _run("scripts/airflow_init.sh", env, tmp_path / "init.log")
        for name, cmd in (("api", f"airflow api-server --port {port}"), ("dag_processor", "airflow dag-processor"),
                          ("scheduler", "airflow scheduler")):
            procs.append(subprocess.Popen(["bash", "-c", f"source scripts/env.sh && exec {cmd}"], cwd=REPO,
                                          env=env, stdout=(tmp_path / f"{name}.log").open("w"),
                                          stderr=subprocess.STDOUT, start_new_session=True))
        plan = dict(line.split("=", 1) for line in
                    _run("ecomflow plan --format shell", env, tmp_path / "plan.log").split())
        _run(f"ecomflow backfill-ingest --until {plan['DAILY_PARTITION']}", env, tmp_path / "backfill.log")
        day = plan["HOURLY_PARTITION"].split("T")[0]
        _run(f"ecomflow backfill-ingest --since {day}T00 --until {plan['HOURLY_PARTITION']}", env,
             tmp_path / "backfill_hours.log")
        # Wait until the dag-processor has serialized both DAGs, then unpause them.
        for _ in range(60):
            out = _run("airflow dags list -o json", env, tmp_path / "list.log")
            if "ecomflow_daily" in out and "ecomflow_hourly" in out:
                break
            time.sleep(5)
        for dag_id in ("ecomflow_daily", "ecomflow_hourly"):
            _run(f"airflow dags unpause {dag_id}", env, tmp_path / f"unpause_{dag_id}.log")

        daily = _backfill("ecomflow_daily", f"{plan['DAILY_PARTITION']}T00:00:00", env, tmp_path)
        assert _wait_for_run("ecomflow_daily", daily, env, tmp_path / "runs.log", 1200) == "success", \
            (tmp_path / "scheduler.log").read_text()[-3000:]
        hourly = _backfill("ecomflow_hourly", f"{plan['HOURLY_PARTITION']}:00:00", env, tmp_path)
        assert _wait_for_run("ecomflow_hourly", hourly, env, tmp_path / "runs.log", 600) == "success", \
            (tmp_path / "scheduler.log").read_text()[-3000:]
        # The hour 23:00 of the daily run's own day: in production it starts together with that
        # daily run (both at D+1 00:00) and both replace raw rows of dt = D.
        late_hour = _backfill("ecomflow_hourly", f"{plan['DAILY_PARTITION']}T23:00:00", env, tmp_path)
        assert _wait_for_run("ecomflow_hourly", late_hour, env, tmp_path / "runs.log", 600) == "success", \
            (tmp_path / "scheduler.log").read_text()[-3000:]
        _check_serving(env)

        # Re-run (Clear) the daily run and the overlapping hourly run at the same time. Cleared runs
        # keep their run ids, so every table must come back byte-for-byte equivalent.
        from tasks.warehouse.fingerprint import diff_fingerprints

        before = _fingerprints(env)
        for dag_id, logical in (("ecomflow_daily", daily), ("ecomflow_hourly", late_hour)):
            _run(f"airflow tasks clear {dag_id} -s {logical} -e {logical} -y", env,
                 tmp_path / f"clear_{dag_id}.log")
        for dag_id, logical in (("ecomflow_daily", daily), ("ecomflow_hourly", late_hour)):
            assert _wait_for_run(dag_id, logical, env, tmp_path / "runs.log", 1200) == "success", \
                (tmp_path / "scheduler.log").read_text()[-3000:]
        assert diff_fingerprints(before, _fingerprints(env)) == []
        _assert_no_raw_pii(env)
        _assert_bi_reader_reads_serving_only(db, pg_role)
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for name in (db, airflow_db):
            _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
