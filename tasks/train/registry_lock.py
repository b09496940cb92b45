"""Serialise writes to one model's registry rows (``registry.transaction``).

Why: ``register`` and ``rollback`` read the model's rows, decide (promote? retire whom?) and
rewrite them with ``replace_partition``. Two trainings of one model registering at once would
both decide on the same old rows; on PostgreSQL (READ COMMITTED) the second rewrite then drops
the first one's new row, and both may claim to be champion. The lock is taken *before* the read
and held until the transaction ends:

- PostgreSQL: ``pg_advisory_xact_lock`` on a key per model, released by the commit/rollback
  (works across processes and hosts that share the server).
- DuckDB: one writing process per file already, but threads of one process share the database
  and would fail on a write-write conflict; a file lock beside the warehouse file
  (``<warehouse>.registry.lock``, the maintained ``filelock`` package) makes threads and processes
  wait instead. It is taken *before* the connection is opened, so a holder never waits for the
  warehouse file while a waiter holds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from filelock import FileLock

from tasks.settings import get_settings
from tasks.warehouse import connect
from tasks.warehouse.engine import file_lock


class RegistryLockError(RuntimeError):
    """A registry write was attempted on DuckDB without holding the registry file lock."""


def _file_lock() -> FileLock | None:
    """The DuckDB warehouse's registry lock (one object per path: re-entrant within a thread)."""
    settings = get_settings()
    if settings.warehouse != "duckdb":
        return None
    # thread_local: each thread has its own hold count
    return file_lock(Path(f"{settings.duckdb_path}.registry.lock"), thread_local=True)


def lock_model(conn: sa.Connection, model: str) -> None:
    """Hold ``model``'s registry lock until ``conn``'s transaction ends.

    PostgreSQL: takes the advisory lock now (re-entrant per session). DuckDB: checks that this
    thread holds the file lock of ``transaction`` (it cannot be taken here: see module docstring).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                     {"key": f"ecomflow:ml.model_registry:{model}"})
        return
    lock = _file_lock()
    if lock is not None and not lock.is_locked:
        raise RegistryLockError(
            f"{model}: registry writes on DuckDB need the connection of "
            f"tasks.train.registry.transaction({model!r}) (file lock {lock.lock_file}), "
            "not a plain tasks.warehouse.connect()")


@contextmanager
def transaction(model: str) -> Iterator[sa.Connection]:
    """One warehouse transaction holding ``model``'s registry lock from before its first read
    until after its commit (or rollback)."""
    lock = _file_lock()
    if lock is None:
        with connect() as conn:
            lock_model(conn, model)
            yield conn
        return
    with lock, connect() as conn:
        lock_model(conn, model)
        yield conn
