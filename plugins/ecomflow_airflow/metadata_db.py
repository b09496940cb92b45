"""Connection settings for Airflow's own metadata database when it is SQLite (the local stack).

Why: the api-server, the scheduler, the dag-processor and every task's supervisor write the one
SQLite file, and SQLite answers a writer that finds the file locked with "database is locked"
after Python's default busy timeout of 5 s. The api-server turns that into HTTP 503; one such
503 answered a backfill request after part of it was written, and the scheduler then died on the
rolled-back run (``ObjectDeletedError``). Waiting longer for the lock turns those failures into
short waits. ``LocalAirflow.service_env`` points ``[database] sql_alchemy_connect_args`` (and
its async twin) here only when the metadata database is SQLite; PostgreSQL (docker-compose,
tests/e2e/test_scheduler.py) takes no such argument and needs none.
"""

from __future__ import annotations

#: Seconds a SQLite writer waits for the file lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30.0

#: ``sqlite3.connect`` / ``aiosqlite.connect`` keyword arguments (Airflow adds its own keys).
SQLITE_CONNECT_ARGS: dict[str, object] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
SQLITE_CONNECT_ARGS_ASYNC: dict[str, object] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
