"""Both DAGs under a real Airflow 3 scheduler (the local services `make run` starts: api-server,
scheduler, dag-processor, triggerer, Spark Connect; LocalExecutor), with the warehouse and
Airflow's metadata on PostgreSQL (as in docker-compose).

`scheduler.use_job_schedule=False` keeps the scheduler from creating cron runs for the real
"today" (for which the synthetic source has no data); the historical partitions are run as
Airflow backfills, which go through the scheduler, the executor and the task-execution API
exactly as scheduled runs do in production.
"""

from __future__ import annotations

import signal
import socket
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from tests.conftest import _pg_admin_execute, with_ecomflow_env
from tests.e2e.test_pipeline import _assert_no_raw_pii, _check_serving, _env, _fingerprints, _run

if TYPE_CHECKING:
    from tasks.orchestration.local_airflow import LocalAirflow

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(3000)]
BI_PASSWORD = "test-only-dummy-bi-password"  # the local server trusts 127.0.0.1 and ignores it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def _assert_rescore_through_a_backfill_with_conf(local: LocalAirflow, env: dict[str, str], hour: str) -> None:
    """README, "Operating the DAGs": a past partition is served with today's champion by a
    backfill that re-runs it with run conf ``{"rescore": true}``; each scorer of the run logs a
    ``rescored`` decision naming the run, and a plain re-run (above) logs none."""
    from tasks.score.pipeline import SCORER_MODEL
    from tasks.warehouse import read_frame

    sql = ("SELECT model, decided_by, reason FROM ml.promotion_log WHERE decision = 'rescored' "
           "AND decided_by LIKE 'trigger:%'")
    assert with_ecomflow_env(env, read_frame, sql).empty
    [run] = local.backfill("ecomflow_hourly", hour, hour, timeout_s=600, conf={"rescore": True})
    assert run["conf"] == {"rescore": True}, run
    states = local.task_states("ecomflow_hourly", run["dag_run_id"])
    scored = {t for t, state in states.items() if t.startswith("score.") and state == "success"}
    assert scored, states
    logged = with_ecomflow_env(env, read_frame, sql)
    assert sorted(logged["model"]) == sorted(SCORER_MODEL[t.split(".", 1)[1]] for t in scored), (scored, logged)
    assert set(logged["decided_by"]) == {f"trigger:{run['dag_run_id']}"}
    assert logged["reason"].str.startswith("explicit re-score with champion").all()


def _assert_a_finished_backfill_is_completed_without_the_schedulers_timer(local: LocalAirflow, hour: str) -> None:
    """Airflow refuses a DAG's next backfill (409) until its scheduler marks the last one complete
    on a 30 s timer; ``complete_finished_backfills`` does it as soon as no run is left to start,
    never while one is, and leaves the backfill unpaused (a cleared run of it runs again: the
    Clear below re-runs ``late_hour``). The scheduler is stopped (SIGSTOP) meanwhile, so its
    timer cannot."""
    from tasks.subprocess_stream import signal_group

    def open_backfills() -> list[int]:
        found = local.api("GET", "/api/v2/backfills?dag_id=ecomflow_hourly&limit=100")["backfills"]
        return [b["id"] for b in found if not b.get("completed_at")]

    deadline = time.monotonic() + 60
    while open_backfills() and time.monotonic() < deadline:  # the last one, marked by either
        local.complete_finished_backfills("ecomflow_hourly")
        time.sleep(1)
    scheduler = local.pid("scheduler")
    assert scheduler and not open_backfills()
    signal_group(scheduler, signal.SIGSTOP)
    try:
        created = local.api("POST", "/api/v2/backfills", {
            "dag_id": "ecomflow_hourly", "from_date": hour, "to_date": hour, "reprocess_behavior": "completed",
            "max_active_runs": 1, "run_backwards": False, "dag_run_conf": {}})
        [run] = local.runs("ecomflow_hourly", hour, hour)
        assert run["state"] == "queued", run
        assert local.complete_finished_backfills("ecomflow_hourly") == [] and open_backfills() == [created["id"]]
        # Nothing of this hour ran (the scheduler is stopped): fail the run by hand, as a person
        # would in the UI; the backfill now has nothing left to start.
        local.api("PATCH", f"/api/v2/dags/ecomflow_hourly/dagRuns/{quote(run['dag_run_id'], safe='')}",
                  {"state": "failed"})
        assert local.complete_finished_backfills("ecomflow_hourly") == [created["id"]]
        assert open_backfills() == []
        assert local.api("GET", f"/api/v2/backfills/{created['id']}")["is_paused"] is False
    finally:
        signal_group(scheduler, signal.SIGCONT)


def test_both_dags_under_a_real_scheduler_on_postgres(tmp_path: Path, pg_role: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The services `make run` starts (tasks/orchestration/local_airflow.py), with Airflow's
    metadata and the warehouse on PostgreSQL as in docker-compose."""
    from tasks.orchestration.local_airflow import LocalAirflow
    from tasks.subprocess_stream import signal_group
    from tasks.warehouse.fingerprint import diff_fingerprints

    db = f"ecomflow_sched_{uuid.uuid4().hex[:8]}"
    # Airflow's own metadata on PostgreSQL too: a scheduler, a dag-processor, an api-server and
    # LocalExecutor workers all write it at once, which SQLite serialises with a file lock.
    airflow_db = f"{db}_airflow"
    _pg_admin_execute(f'CREATE DATABASE "{db}"')
    _pg_admin_execute(f'CREATE DATABASE "{airflow_db}"')
    home = tmp_path / "home"
    env = _env(home, "postgres", db)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{airflow_db}"
    # BI logins enabled as a deployment does it, on a role of this test's own (roles are cluster-wide).
    env.update({"ECOMFLOW_BI_READER_ROLE": pg_role, "ECOMFLOW_BI_READER_PASSWORD": BI_PASSWORD,
                "ECOMFLOW_AIRFLOW_PORT": str(_free_port()), "ECOMFLOW_SPARK_CONNECT_PORT": str(_free_port())})
    local = LocalAirflow.from_env(env)
    try:
        _run("scripts/airflow_init.sh", env, tmp_path / "init.log")
        plan = dict(line.split("=", 1) for line in
                    _run("ecomflow plan --format shell", env, tmp_path / "plan.log").split())
        _run(f"ecomflow backfill-ingest --until {plan['DAILY_PARTITION']}", env, tmp_path / "backfill.log")
        day = plan["HOURLY_PARTITION"].split("T")[0]
        _run(f"ecomflow backfill-ingest --since {day}T00 --until {plan['HOURLY_PARTITION']}", env,
             tmp_path / "backfill_hours.log")
        local.start(env)
        local.unpause()

        daily = f"{plan['DAILY_PARTITION']}T00:00:00Z"
        hourly = f"{plan['HOURLY_PARTITION']}:00:00Z"
        # The hour 23:00 of the daily run's own day: in production it starts together with that
        # daily run (both at D+1 00:00) and both replace raw rows of dt = D.
        late_hour = f"{plan['DAILY_PARTITION']}T23:00:00Z"
        local.backfill("ecomflow_daily", daily, daily, timeout_s=1200)
        # A scheduler that dies between runs (seen: a crash after a busy-database 503) must not
        # leave the next backfill's runs queued until its timeout: the wait starts it again.
        scheduler_pid = local.pid("scheduler")
        assert scheduler_pid
        signal_group(scheduler_pid, signal.SIGKILL)
        capsys.readouterr()
        local.backfill("ecomflow_hourly", hourly, hourly, timeout_s=600)
        said = capsys.readouterr().out
        assert "the scheduler died" in said and "starting it again" in said, said
        assert local.pid("scheduler") not in (None, scheduler_pid)
        local.backfill("ecomflow_hourly", late_hour, late_hour, timeout_s=600)
        _assert_a_finished_backfill_is_completed_without_the_schedulers_timer(local, f"{day}T05:00:00Z")
        _check_serving(env)
        # Every task's log is a file the api-server serves to the UI, with the task's own output.
        compute_logs = list((local.home / "logs").glob("dag_id=ecomflow_daily/*/task_id=features.compute/*.log"))
        assert compute_logs and "feature set user_profile as of" in compute_logs[0].read_text()

        # Re-run (Clear) the daily run and the overlapping hourly run at the same time. Cleared runs
        # keep their run ids, so every table must come back byte-for-byte equivalent.
        before = _fingerprints(env)
        for dag_id, logical in (("ecomflow_daily", daily), ("ecomflow_hourly", late_hour)):
            _run(f"airflow tasks clear {dag_id} -s {logical} -e {logical} -y", env,
                 tmp_path / f"clear_{dag_id}.log")
        for dag_id, logical in (("ecomflow_daily", daily), ("ecomflow_hourly", late_hour)):
            local.wait_for_runs(dag_id, logical, logical, timeout_s=1200)
        assert diff_fingerprints(before, _fingerprints(env)) == []
        _assert_rescore_through_a_backfill_with_conf(local, env, late_hour)
        _assert_no_raw_pii(env)
        _assert_bi_reader_reads_serving_only(db, pg_role)
    finally:
        local.stop()
        for name in (db, airflow_db):
            _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
