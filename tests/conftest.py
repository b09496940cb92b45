"""Shared fixtures: an isolated $ECOMFLOW_HOME per test session and one SparkSession.

Everything runs against the real components (DuckDB file, local Spark, etc.) on
small data; nothing is mocked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ONLINE_RETAIL_CSV = SHARED_DATA / "online_retail_uci" / "online_retail.csv.gz"
ONLINE_SHOPPERS_CSV = SHARED_DATA / "online_shoppers_intention_uci" / "online_shoppers_intention.csv.gz"


def _reset_settings() -> None:
    from tasks import settings
    from tasks.warehouse import dispose_engine

    dispose_engine()
    settings.reset()


@contextmanager
def _ecomflow_env(values: dict[str, str]) -> Iterator[None]:
    """Set these environment variables (settings re-read), restoring the previous values after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    _reset_settings()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _reset_settings()


def with_ecomflow_env(env: dict[str, str], func, *args):  # noqa: ANN001, ANN201 - test helper
    """Call ``func`` in this process with the ECOMFLOW_* settings of a subprocess run's ``env``
    (e.g. to read the warehouse a DAG run wrote), restoring this process's settings after."""
    with _ecomflow_env({k: v for k, v in env.items() if k.startswith("ECOMFLOW_")}):
        return func(*args)


@pytest.fixture(scope="session")
def ecomflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh ECOMFLOW_HOME (DuckDB warehouse, lake, artefacts) for the test session."""
    home = tmp_path_factory.mktemp("ecomflow_home")
    with _ecomflow_env({"ECOMFLOW_HOME": str(home), "ECOMFLOW_WAREHOUSE": "duckdb",
                        "ECOMFLOW_PII_KEY": "test-only-dummy-key"}):
        yield home


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh ECOMFLOW_HOME for one test (DuckDB default)."""
    monkeypatch.setenv("ECOMFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ECOMFLOW_WAREHOUSE", "duckdb")
    monkeypatch.setenv("ECOMFLOW_PII_KEY", "test-only-dummy-key")
    monkeypatch.delenv("ECOMFLOW_DUCKDB_PATH", raising=False)
    monkeypatch.delenv("ECOMFLOW_LAKE", raising=False)
    monkeypatch.delenv("ECOMFLOW_ARTEFACTS", raising=False)
    _reset_settings()
    yield tmp_path / "home"
    _reset_settings()


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for all Spark unit tests (starting one costs seconds)."""
    from tasks.features.session import build_spark_session

    session = build_spark_session(app_name="ecomflow-tests", master="local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def migrated_airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], None]:
    """``init(airflow_home)`` puts an Airflow metadata DB (SQLite) that ``airflow db migrate``
    made into ``airflow_home``: migrated once per test process and copied, since every migrate
    of an empty DB costs 6-15 s on 2 cores and five tests that run ``dag.test()`` each needed one."""
    import shutil
    import subprocess
    import sys

    template = tmp_path_factory.mktemp("airflow_db_template")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update({"AIRFLOW_HOME": str(template), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=300)

    def init(airflow_home: Path) -> None:
        airflow_home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template / "airflow.db", airflow_home / "airflow.db")

    return init


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"shared data sets not found at {SHARED_DATA} (expected ../shared/data beside the repo)")
    return SHARED_DATA


def _pg_admin_execute(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _pg_admin_query(sql: str, dbname: str = "postgres") -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=dbname, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def _pg_cluster_state() -> tuple[frozenset[str], frozenset[str]] | None:
    """(roles, databases) on the local server, or None when it is not reachable."""
    try:
        roles = _pg_admin_query("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_'")
        dbs = _pg_admin_query("SELECT datname FROM pg_database")
    except Exception:  # noqa: BLE001 - no server: tests marked postgres fail on their own
        return None
    return frozenset(r[0] for r in roles), frozenset(d[0] for d in dbs)


def _parallel(config: pytest.Config) -> bool:
    """True in a pytest-xdist worker (``make test`` runs the suite on ``-n 2``)."""
    return hasattr(config, "workerinput")


# Expected seconds of the longest tests (alone on 2 cores; see tests/README.md). Only their order
# matters: `pytest_collection_modifyitems` starts them first, spread over the xdist workers.
_LONG_TESTS = {"tests/e2e/test_pipeline.py": 420, "tests/e2e/test_scheduler.py": 400,
               "tests/scenarios/test_scenario_dags.py": 140, "tests/monitoring/test_drift_story_popularity.py": 100}
_SLOW_DEFAULT_S = 40


def _expected_seconds(item: pytest.Item) -> float:
    path = item.nodeid.split("::")[0]
    if path in _LONG_TESTS:
        return _LONG_TESTS[path]
    return _SLOW_DEFAULT_S if item.get_closest_marker("slow") else 1.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``-n N --dist worksteal``, start the long tests first on every worker.

    xdist hands worker i the i-th contiguous share of the collection and later moves tests from
    the back of a busy worker's queue to an idle one. In file order one worker's share held the
    two end-to-end tests and the scenarios at its end, so the run ended with one worker on a
    10-minute test and the other idle. Here the slow tests are dealt longest first to the share
    with the least expected time, each share starts with its slow tests and is topped up with
    the others in file order; the order is deterministic, so every worker collects the same list.
    """
    workers = int(getattr(config, "workerinput", {}).get("workercount", 0))
    if workers < 2:
        return
    slow = sorted((i for i in items if _expected_seconds(i) > 1), key=_expected_seconds, reverse=True)
    if not slow:
        return
    shares: list[list[pytest.Item]] = [[] for _ in range(workers)]
    for item in slow:  # longest processing time first
        min(shares, key=lambda share: sum(map(_expected_seconds, share))).append(item)
    rest = [i for i in items if _expected_seconds(i) <= 1]
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for k, share in enumerate(shares):
        size = remaining // (workers - k)  # what xdist's first schedule gives worker k
        top_up = max(size - len(share), 0)
        ordered += share + rest[:top_up]
        rest = rest[top_up:]
        remaining -= size
    items[:] = ordered + rest


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if getattr(config.option, "numprocesses", None) and not _parallel(config):
        config.stash[_RUN_PG_STATE] = _pg_cluster_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Parallel runs: fail the run when it left a PostgreSQL role or database behind (the
    per-test check below cannot tell the two workers' databases apart)."""
    before = session.config.stash.get(_RUN_PG_STATE, None)
    if before is None or os.environ.get("ECOMFLOW_TEST_PG_LEAK_CHECK", "1") == "0":
        return
    after = _pg_cluster_state()
    if after is None:
        return
    leaked_roles, leaked_dbs = sorted(after[0] - before[0]), sorted(after[1] - before[1])
    if leaked_roles or leaked_dbs:
        session.config.get_terminal_writer().line(
            f"the test run left PostgreSQL state behind: roles {leaked_roles}, databases {leaked_dbs} "
            "(run the suite without -n to find the test: the per-test check names it)", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_RUN_PG_STATE = pytest.StashKey[tuple[frozenset[str], frozenset[str]] | None]()


@pytest.fixture(autouse=True)
def _no_leaked_postgres_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaves a PostgreSQL role or database behind (issue 8).

    Roles and databases are cluster-wide: one that a test leaves behind changes what the next
    test (or the next run on the same server, or the user's own pipeline) sees, so a suite that
    passes on a used machine can fail on a fresh one. Checked around every test, so the error
    names the test that leaked. Runs before (and tears down after) every other fixture of the test.
    Server-wide by nature: two suites running at once on one server see each other's databases,
    so such a run sets ECOMFLOW_TEST_PG_LEAK_CHECK=0 (CI runs one suite and keeps it on).
    """
    if os.environ.get("ECOMFLOW_TEST_PG_LEAK_CHECK", "1") == "0" or _parallel(request.config):
        # in parallel runs the other worker's databases would show up here: the whole run is
        # checked once instead, by the controller (pytest_sessionfinish below)
        yield
        return
    before = _pg_cluster_state()
    yield
    if before is None:
        return
    after = _pg_cluster_state()
    if after is None:
        return
    # Only tests/security/test_postgres_hygiene.py sets a prefix: its inner session must not see
    # the databases that the suite's other xdist worker creates meanwhile.
    prefix = os.environ.get("ECOMFLOW_TEST_PG_LEAK_PREFIX", "")
    leaked_roles = sorted(r for r in after[0] - before[0] if r.startswith(prefix))
    leaked_dbs = sorted(d for d in after[1] - before[1] if d.startswith(prefix))
    if leaked_roles or leaked_dbs:
        pytest.fail(f"{request.node.nodeid} left PostgreSQL state behind: roles {leaked_roles}, "
                    f"databases {leaked_dbs}; create them with test-unique names and drop them "
                    "in the test's teardown (tests/conftest.py: pg_role, postgres_home). Another test run "
                    "on the same server at the same time also trips this check: run one suite at a time, "
                    "or set ECOMFLOW_TEST_PG_LEAK_CHECK=0 for such a run", pytrace=False)


def drop_role_everywhere(role: str) -> None:
    """Drop ``role`` and everything granted to it in every database of the local server.

    A role with privileges (or default privileges) in any database cannot be dropped, and
    ``DROP OWNED BY`` only acts on the database it runs in, so run it in each one.
    """
    import re

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"not a plain role name: {role!r}")
    if not _pg_admin_query(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'"):
        return
    for (db,) in _pg_admin_query("SELECT datname FROM pg_database WHERE datallowconn"):
        _pg_admin_query(f'DROP OWNED BY "{role}"; SELECT 1', dbname=db)
    _pg_admin_execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
def pg_role() -> Iterator[str]:
    """A test-unique PostgreSQL role name (e.g. for ECOMFLOW_BI_READER_ROLE), dropped afterwards.

    The test (or the product code it drives) creates the role; this fixture only guarantees
    that the name collides with nothing and that the role is gone after the test.
    """
    import uuid

    role = f"ecomflow_t_role_{uuid.uuid4().hex[:10]}"
    yield role
    drop_role_everywhere(role)


@pytest.fixture
def postgres_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh PostgreSQL database as the warehouse (plus a temp ECOMFLOW_HOME); dropped afterwards."""
    import uuid

    name = f"ecomflow_t_{uuid.uuid4().hex[:10]}"
    try:
        _pg_admin_execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is needed for this test: {exc}")
    monkeypatch.setenv("ECOMFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ECOMFLOW_WAREHOUSE", "postgres")
    monkeypatch.setenv("ECOMFLOW_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("ECOMFLOW_PG_USER", "postgres")
    monkeypatch.setenv("ECOMFLOW_PG_DB", name)
    monkeypatch.setenv("ECOMFLOW_PII_KEY", "test-only-dummy-key")
    monkeypatch.delenv("ECOMFLOW_PG_URL", raising=False)
    _reset_settings()
    yield name
    _reset_settings()
    _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_warehouse(request: pytest.FixtureRequest) -> str:
    """Run a test once on DuckDB and once on PostgreSQL."""
    if request.param == "duckdb":
        request.getfixturevalue("isolated_home")
    else:
        request.getfixturevalue("postgres_home")
    return request.param
