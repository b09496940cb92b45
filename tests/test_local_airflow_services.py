"""How the local stack (tasks/orchestration/local_airflow.py) tells a live service from a dead
one, and what it tells the user about a service that died: real processes and log files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.orchestration.local_airflow import LocalAirflow, _last_error


def test_a_service_that_exited_is_dead_even_while_it_is_an_unreaped_zombie(tmp_path: Path) -> None:
    local = LocalAirflow(tmp_path)
    local.run_dir.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])  # our child: a zombie once it exits
    local.pid_file("scheduler").write_text(str(proc.pid))
    deadline = time.monotonic() + 30
    while Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1][0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert local.pid("scheduler") is None
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        local.pid_file("scheduler").write_text(str(sleeper.pid))
        assert local.pid("scheduler") == sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()
    assert local.pid("scheduler") is None


def test_the_last_exception_of_a_dead_services_log_is_named(tmp_path: Path) -> None:
    log = tmp_path / "scheduler.log"
    log.write_text("INFO starting\nTraceback (most recent call last):\n  File \"x.py\", line 1\n"
                   "sqlalchemy.orm.exc.ObjectDeletedError: Instance '<DagRun>' has been deleted\n"
                   "INFO exiting\n")
    said = _last_error(log)
    assert said.startswith("sqlalchemy.orm.exc.ObjectDeletedError: Instance") and str(log) in said
    log.write_text("INFO only info\n")
    assert _last_error(log).startswith("INFO only info")
    assert _last_error(tmp_path / "missing.log").startswith("no log at")


_WRITE_THROUGH_AIRFLOW = """
import sys, time
from sqlalchemy import text
from airflow import settings
session = settings.Session()
print("ready", flush=True)
start = time.monotonic()
try:
    session.execute(text("INSERT INTO probe VALUES (1)"))
    session.commit()
    print(f"wrote after {time.monotonic() - start:.1f} s", flush=True)
except Exception as exc:
    print(f"failed after {time.monotonic() - start:.1f} s: {exc}", flush=True)
    sys.exit(1)
"""


def _write_while_locked(env: dict[str, str], db: Path, hold_s: float) -> tuple[int, str]:
    """Hold SQLite's write lock on ``db`` for ``hold_s`` seconds after a process with ``env``
    opened Airflow's metadata session, while that process writes one row."""
    import sqlite3

    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    proc = subprocess.Popen([sys.executable, "-c", _WRITE_THROUGH_AIRFLOW], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("ready"):
                break
        time.sleep(hold_s)
        holder.execute("COMMIT")
        out, _ = proc.communicate(timeout=120)
    finally:
        holder.close()
        proc.kill()
    return proc.returncode, out


def test_the_local_stack_waits_for_a_locked_sqlite_metadata_db_instead_of_failing(tmp_path: Path) -> None:
    """A writer that finds Airflow's SQLite file locked waits for it (the api-server answered
    503 "database is locked" after SQLite's default 5 s); without the setting the same write
    fails, so this test can fail."""
    import sqlite3

    db = tmp_path / "airflow.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE probe (x INTEGER)")
    local = LocalAirflow(tmp_path / "airflow")
    env = local.service_env({**{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
                             "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}"})
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] == "ecomflow_airflow.metadata_db.SQLITE_CONNECT_ARGS"
    code, out = _write_while_locked(env, db, hold_s=7)
    assert code == 0 and "wrote after" in out, out[-2000:]
    assert float(out.split("wrote after ")[1].split(" s")[0]) >= 6
    without = {k: v for k, v in env.items() if not k.startswith("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS")}
    code, out = _write_while_locked(without, db, hold_s=7)
    assert code == 1 and "database is locked" in out, out[-2000:]
    # PostgreSQL metadata takes no such argument (psycopg2 would refuse "timeout").
    pg = local.service_env({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://postgres@127.0.0.1/x"})
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS" not in pg


def test_a_service_that_keeps_dying_ends_the_wait_with_its_error(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a wait has used its restarts, a dead scheduler ends it at once with the error from
    its log, instead of leaving the caller polling queued runs until the timeout."""
    from tasks.orchestration import local_airflow

    monkeypatch.setattr(local_airflow, "MAX_REVIVES", 0)
    local = LocalAirflow(tmp_path)
    local.run_dir.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        for service in local_airflow.AIRFLOW_SERVICES:
            local.pid_file(service).write_text(str(dead.pid if service == "scheduler" else sleeper.pid))
        local.log_file("scheduler").write_text("RuntimeError: the scheduler broke\n")
        started = time.monotonic()
        with pytest.raises(local_airflow.LocalAirflowError, match="the scheduler died again after 0 restarts "
                                                                  r"\(RuntimeError: the scheduler broke"):
            local.wait_for_runs("ecomflow_daily", "2026-03-01", "2026-03-01", timeout_s=60)
        assert time.monotonic() - started < 5
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_stack_being_stopped_is_not_started_again(tmp_path: Path) -> None:
    """`make stop` while a run is waited for: a service that already exited must stay down
    (revive would otherwise start a scheduler that nothing stops)."""
    local = LocalAirflow(tmp_path)
    local.run_dir.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    local.pid_file("scheduler").write_text(str(dead.pid))
    assert local.stop() == []  # nothing alive to stop; the mark is left for a waiting run
    assert local.stopping_file.exists()
    assert local.revive() == []
    assert not local.pid_file("scheduler").exists() and local.pid("scheduler") is None
