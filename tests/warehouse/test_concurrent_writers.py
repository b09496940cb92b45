"""Overlapping daily and hourly writers cannot corrupt a shared table.

The daily run for day D replaces all of ``dt = D`` while the hourly run for D 23:00 replaces
``dt = D, hr = 23``; in production both start at D+1 00:00. These tests make the two writes
overlap on purpose and check that the hour ends up with exactly one copy of its rows.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from tasks.warehouse import connect, read_frame, replace_partition

DAY = dt.date(2026, 3, 1)
HOUR = 23
REPO = Path(__file__).resolve().parents[2]


def _rows(hours: range, per_hour: int, tag: str) -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": [f"{tag}-{h}-{i}" for h in hours for i in range(per_hour)],
        "dt": [DAY] * (len(hours) * per_hour),
        "hr": pd.array([h for h in hours for _ in range(per_hour)], dtype="Int64"),
    })


def _hour_counts() -> dict[int, int]:
    frame = read_frame("SELECT hr, COUNT(*) AS n FROM raw.hits GROUP BY hr ORDER BY hr")
    return {int(h): int(n) for h, n in zip(frame["hr"], frame["n"], strict=True)}


@pytest.mark.postgres
def test_hourly_write_waits_for_an_open_daily_write(postgres_home: str) -> None:
    """PostgreSQL: without the per-table lock the hourly DELETE misses the daily run's new
    rows (READ COMMITTED snapshot) and the hour is duplicated; with it the hourly write waits."""
    replace_partition("raw.hits", _rows(range(24), 2, "old"), {"dt": DAY})
    daily = _rows(range(24), 3, "daily")
    hourly = _rows(range(HOUR, HOUR + 1), 3, "daily")  # the same hour, re-delivered by the hourly run
    errors: list[BaseException] = []

    def hourly_writer() -> None:
        try:
            replace_partition("raw.hits", hourly, {"dt": DAY, "hr": HOUR})
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)

    with connect() as conn:
        replace_partition("raw.hits", daily, {"dt": DAY}, conn=conn)
        worker = threading.Thread(target=hourly_writer)
        worker.start()
        time.sleep(1.5)
        assert worker.is_alive(), "the hourly write did not wait for the open daily transaction"
    worker.join(timeout=30)
    assert not worker.is_alive() and not errors, errors
    counts = _hour_counts()
    assert counts[HOUR] == 3, counts
    assert set(counts.values()) == {3} and len(counts) == 24
    ids = read_frame("SELECT event_id FROM raw.hits")["event_id"]
    assert not ids.duplicated().any()


_HOLDING_WRITER = """
import sys, time, datetime as dt
import pandas as pd
from tasks.warehouse import connect, replace_partition
day = dt.date(2026, 3, 1)
frame = pd.DataFrame({"event_id": [f"daily-{h}-{i}" for h in range(24) for i in range(3)],
                      "dt": [day] * 72, "hr": pd.array([h for h in range(24) for _ in range(3)], dtype="Int64")})
with connect() as conn:
    replace_partition("raw.hits", frame, {"dt": day}, conn=conn)
    open(sys.argv[1], "w").close()
    time.sleep(3)
"""


def _start_holder(script: str, marker: Path) -> subprocess.Popen:
    """Run ``script`` in another process; return once it holds the warehouse (wrote ``marker``)."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}"}
    child = subprocess.Popen([sys.executable, "-c", script, str(marker)], cwd=REPO, env=env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"the other process never took the warehouse (exit {child.poll()})")
        time.sleep(0.05)
    return child


def test_duckdb_second_writer_waits_for_the_file_lock(isolated_home: Path, tmp_path: Path) -> None:
    """DuckDB: one writing process per file. A second process's hourly write retries on the
    lock and runs after the daily write committed, so the hour is not duplicated."""
    replace_partition("raw.hits", _rows(range(24), 2, "old"), {"dt": DAY})
    from tasks.warehouse import dispose_engine

    dispose_engine()  # release the file so the child can take the write lock
    child = _start_holder(_HOLDING_WRITER, tmp_path / "daily-holds-lock")
    try:
        started = time.monotonic()
        replace_partition("raw.hits", _rows(range(HOUR, HOUR + 1), 3, "daily"), {"dt": DAY, "hr": HOUR})
        waited = time.monotonic() - started
    finally:
        assert child.wait(timeout=60) == 0
    assert waited > 0.5, f"the hourly write did not wait for the daily writer ({waited:.2f} s)"
    counts = _hour_counts()
    assert counts == dict.fromkeys(range(24), 3), counts


_HOLDING_CONNECTION = """
import sys, time
from tasks.warehouse import connect
with connect() as conn:
    conn.exec_driver_sql("SELECT 1")
    open(sys.argv[1], "w").close()
    time.sleep(2)
    open(sys.argv[1] + ".releasing", "w").close()
"""


@pytest.mark.parametrize("writer_lock", ["on", "off"])
def test_a_task_waits_on_the_writer_lock_not_on_duckdbs_own(isolated_home: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch, writer_lock: str) -> None:
    """Processes of one DuckDB warehouse take turns through the writer lock beside the file
    (tasks/warehouse/engine.py): the second one waits there and then opens the file at its first
    try, so it never polls DuckDB's own lock (1 s sleeps). With the lock switched off
    (the benchmark's baseline) the same first try fails on DuckDB's lock."""
    from tasks.warehouse.engine import WRITER_LOCK_FLAG

    if writer_lock == "off":
        monkeypatch.setenv(WRITER_LOCK_FLAG, "0")
    replace_partition("raw.hits", _rows(range(2), 1, "old"), {"dt": DAY})
    marker = tmp_path / "holds-the-file"
    child = _start_holder(_HOLDING_CONNECTION, marker)
    try:
        if writer_lock == "off":
            with pytest.raises(Exception, match="(?i)lock"), connect(retries=1):
                pass
            return
        with connect(retries=1) as conn:  # one try at DuckDB's lock: only the writer lock may wait
            assert Path(f"{marker}.releasing").exists(), "opened the file while the other process held it"
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM raw.hits").scalar() == 2
    finally:
        assert child.wait(timeout=60) == 0


def test_the_writer_lock_is_reentrant_across_threads_of_a_process(isolated_home: Path) -> None:
    """A thread that holds a connection may connect again, and so may the process's other
    threads (they share one DuckDB database): neither waits for the lock it already holds."""
    replace_partition("raw.hits", _rows(range(1), 1, "old"), {"dt": DAY})
    seen: list[int] = []
    with connect() as outer:
        with connect() as inner:
            seen.append(inner.exec_driver_sql("SELECT COUNT(*) FROM raw.hits").scalar())
        other = threading.Thread(target=lambda: seen.append(len(read_frame("SELECT * FROM raw.hits"))))
        other.start()
        other.join(timeout=30)
        assert not other.is_alive(), "another thread of the holding process waited for the lock"
        seen.append(outer.exec_driver_sql("SELECT COUNT(*) FROM raw.hits").scalar())
    assert seen == [1, 1, 1]


def test_a_forked_child_takes_the_writer_lock_itself(isolated_home: Path) -> None:
    """A process forked while its parent holds the warehouse (a LocalExecutor worker, a torch
    data loader) is another process: it waits for the lock instead of counting the parent's hold."""
    from tasks.warehouse.engine import duckdb_writer_lock

    with connect():
        pid = os.fork()
        if pid == 0:  # the child: exit 0 only when the lock is refused while the parent holds it
            try:
                with duckdb_writer_lock(timeout_s=0.5):
                    os._exit(1)
            except TimeoutError:
                os._exit(0)
            except BaseException:  # noqa: BLE001 - any other outcome fails the test
                os._exit(2)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the forked child used its parent's hold of the lock"


_TRY_THE_LOCK = """
import sys
from tasks.warehouse.engine import duckdb_writer_lock
try:
    with duckdb_writer_lock(timeout_s=0.5):
        sys.exit(0)
except TimeoutError:
    sys.exit(3)
"""


def _other_process_gets_the_lock() -> bool:
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}"}
    code = subprocess.run([sys.executable, "-c", _TRY_THE_LOCK], cwd=REPO, env=env, timeout=120).returncode
    assert code in (0, 3), code
    return code == 0


def test_a_session_keeps_one_duckdb_instance_for_its_connects_and_holds_the_warehouse(isolated_home: Path) -> None:
    """``session()`` (tasks/warehouse/engine.py): every ``connect()`` inside it reuses the one
    DuckDB database the session keeps open (a global setting made on one connection is seen by the
    next), so the connects do not each build and drop the database; writes made inside commit;
    other processes wait for the whole session and get the warehouse right after it."""
    from tasks.warehouse import session

    setting = "SELECT current_setting('default_null_order')"
    with connect() as conn:
        default = conn.exec_driver_sql(setting).scalar()
    with session():
        with connect() as conn:
            conn.exec_driver_sql("SET GLOBAL default_null_order = 'nulls_first_on_asc_last_on_desc'")
        with connect() as conn:  # the same database instance: the global setting is still there
            assert conn.exec_driver_sql(setting).scalar() == "NULLS_FIRST_ON_ASC_LAST_ON_DESC"
        replace_partition("raw.hits", _rows(range(2), 1, "in-session"), {"dt": DAY})
        assert not _other_process_gets_the_lock(), "another process took the warehouse during the session"
    assert _other_process_gets_the_lock()
    with connect() as conn:  # the session's database was dropped with it: a fresh one, defaults back
        assert conn.exec_driver_sql(setting).scalar() == default
    assert _hour_counts() == {0: 1, 1: 1}
