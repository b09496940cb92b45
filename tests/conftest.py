"""Shared fixtures: an isolated $ECOMFLOW_HOME per test session and one SparkSession.

Everything runs against the real components (DuckDB file, local Spark, etc.) on
small data; nothing is mocked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def ecomflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh ECOMFLOW_HOME (DuckDB warehouse, lake, artefacts) for the test session."""
    home = tmp_path_factory.mktemp("ecomflow_home")
    old = {k: os.environ.get(k) for k in ("ECOMFLOW_HOME", "ECOMFLOW_WAREHOUSE", "ECOMFLOW_PII_KEY")}
    os.environ["ECOMFLOW_HOME"] = str(home)
    os.environ["ECOMFLOW_WAREHOUSE"] = "duckdb"
    os.environ["ECOMFLOW_PII_KEY"] = "test-only-dummy-key"
    _reset_settings()
    yield home
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    _reset_settings()


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
