"""The SQLAlchemy engine for the configured warehouse.

DuckDB is an embedded file that allows one writing process at a time, so the
engine uses no pool (each ``connect()`` opens and closes the file). Processes of
one warehouse take turns through a file lock beside it (``<warehouse>.writer.lock``,
:func:`duckdb_writer_lock`; dbt takes it too, ``tasks.transform.dbt_runner``): a
waiter is woken within milliseconds of the release. Polling DuckDB's own lock
instead (open, fail, sleep 1 s, open again) cost a task about a second at every
collision, and a daily run's four task slots collide often; that polling stays only
for a holder outside ecomflow (a DuckDB CLI or a BI tool with the file open).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import sqlalchemy as sa
from filelock import FileLock
from sqlalchemy.pool import NullPool

from tasks.settings import get_settings

log = logging.getLogger(__name__)
_ENGINES: dict[str, sa.Engine] = {}
#: One lock object per lock file, kind and process (see file_lock).
_FILE_LOCKS: dict[tuple[Path, bool], FileLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()
#: How long a task waits for another process to release the warehouse file before failing.
WRITER_LOCK_TIMEOUT_S = 1800.0
#: ``0``: no writer lock, only the polling of DuckDB's own lock (benchmarks/local_stack.py's baseline).
WRITER_LOCK_FLAG = "ECOMFLOW_WAREHOUSE_WRITER_LOCK"
#: Waits for the file lock longer than this are logged (they show in the task log).
_LOG_WAIT_OVER_S = 2.0


def _url() -> str:
    settings = get_settings()
    if settings.warehouse == "duckdb":
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        return f"duckdb:///{settings.duckdb_path}"
    return settings.postgres_url.get_secret_value()


def get_engine() -> sa.Engine:
    url = _url()
    if url not in _ENGINES:
        _ENGINES[url] = sa.create_engine(url, poolclass=NullPool, future=True)
    return _ENGINES[url]


def dispose_engine() -> None:
    """Close every engine (tests switch warehouses; tasks release the DuckDB lock)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def _forget_file_locks_in_child() -> None:
    """A forked child is another process: it must take a lock itself, not count the parent's hold
    (and a guard another thread of the parent held at the fork would never be released here)."""
    global _FILE_LOCKS_GUARD
    _FILE_LOCKS.clear()
    _FILE_LOCKS_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_forget_file_locks_in_child)


def file_lock(path: Path, *, thread_local: bool) -> FileLock:
    """The process's one ``FileLock`` object for ``path`` (OS ``flock``; re-entrant per thread when
    ``thread_local``, else for the whole process). One object per path: two threads creating the
    first one at once would each hold a different object, and a hold count would see the other's."""
    with _FILE_LOCKS_GUARD:
        key = (path, thread_local)
        if key not in _FILE_LOCKS:
            path.parent.mkdir(parents=True, exist_ok=True)
            _FILE_LOCKS[key] = FileLock(path, thread_local=thread_local, poll_interval=0.005,
                                        preserve_lock_file=True)
        return _FILE_LOCKS[key]


@contextmanager
def duckdb_writer_lock(timeout_s: float = WRITER_LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the configured DuckDB warehouse's process lock (no-op on PostgreSQL).

    An OS lock (``flock``), released by the kernel when its holder exits, so a killed task never
    leaves it behind. Taken before the DuckDB file is opened and held until it is closed.
    """
    settings = get_settings()
    if settings.warehouse != "duckdb" or os.environ.get(WRITER_LOCK_FLAG) == "0":
        yield
        return
    # Re-entrant for the whole process: threads of one process share one DuckDB database (no file
    # lock between them), and a holder may connect again (dbt's table look, a registry transaction).
    lock = file_lock(Path(f"{settings.duckdb_path}.writer.lock"), thread_local=False)
    started = time.monotonic()
    try:
        lock.acquire(timeout=timeout_s)
    except TimeoutError as exc:
        raise TimeoutError(
            f"the DuckDB warehouse {settings.duckdb_path} stayed locked by another process for "
            f"{timeout_s:.0f} s (lock file {lock.lock_file}); is a task or `ecomflow` command stuck?") from exc
    waited = time.monotonic() - started
    if waited > _LOG_WAIT_OVER_S:
        log.info("waited %.1f s for the warehouse file (another task held it)", waited)
    try:
        yield
    finally:
        lock.release()


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "could not set lock" in text or "conflicting lock" in text


@contextmanager
def connect(retries: int = 60, wait_s: float = 1.0) -> Iterator[sa.Connection]:
    """A connection inside one transaction (committed on success, rolled back on error).

    On DuckDB it holds :func:`duckdb_writer_lock` while open; ``retries`` × ``wait_s`` bound the
    wait for a holder outside ecomflow, which does not take that lock.
    """
    engine = get_engine()
    with duckdb_writer_lock() if engine.dialect.name == "duckdb" else nullcontext():
        conn = _open(engine, retries, wait_s)
        try:
            with conn.begin():
                yield conn
        finally:
            conn.close()


def _open(engine: sa.Engine, retries: int, wait_s: float) -> sa.Connection:
    for attempt in range(retries):
        try:
            return engine.connect()
        except Exception as exc:  # noqa: BLE001 - only lock errors are retried
            if not _is_lock_error(exc) or attempt == retries - 1:
                raise
            time.sleep(wait_s)
    raise AssertionError("unreachable")


@contextmanager
def session(retries: int = 60, wait_s: float = 1.0) -> Iterator[None]:
    """Keep this process's DuckDB database open across a burst of small warehouse calls.

    Why: DuckDB builds its database instance (every built-in function registered, the catalog
    loaded) when a process opens the file with no other connection of its own open, and drops it
    at the last close. Each ``connect()`` paid that: ~35 ms for connect + a catalog query + close
    on a scenario's warehouse, against ~3 ms while another connection of the process is open; a
    monitoring run makes dozens of such calls. Inside a session every ``connect()`` of this process
    reuses the open instance. The session holds the writer lock (re-entrant in this process) for
    its whole length, so other processes wait: wrap bursts of reads and small writes only, never
    training or long computations. A no-op on PostgreSQL (a connection there costs no catalog load).
    """
    engine = get_engine()
    if engine.dialect.name != "duckdb":
        yield
        return
    with duckdb_writer_lock():
        conn = _open(engine, retries, wait_s)
        try:
            yield
        finally:
            conn.close()
