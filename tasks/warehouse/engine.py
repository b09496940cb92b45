"""The SQLAlchemy engine for the configured warehouse.

DuckDB is an embedded file that allows one writing process at a time, so the
engine uses no pool (each ``connect()`` opens and closes the file) and retries
briefly when another process holds the lock, e.g. a scheduler running two
tasks at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tasks.settings import get_settings

_ENGINES: dict[str, sa.Engine] = {}


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


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "could not set lock" in text or "conflicting lock" in text


@contextmanager
def connect(retries: int = 60, wait_s: float = 1.0) -> Iterator[sa.Connection]:
    """A connection inside one transaction (committed on success, rolled back on error)."""
    engine = get_engine()
    for attempt in range(retries):
        try:
            conn = engine.connect()
            break
        except Exception as exc:  # noqa: BLE001 - only lock errors are retried
            if not _is_lock_error(exc) or attempt == retries - 1:
                raise
            time.sleep(wait_s)
    try:
        with conn.begin():
            yield conn
    finally:
        conn.close()
