"""How the local stack (tasks/orchestration/local_airflow.py) tells a live service from a dead
one, and what it tells the user about a service that died: real processes and log files."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

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
