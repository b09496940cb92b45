"""BI logs in as ``bi_reader`` and can read ``serving`` - including tables dbt or a scorer
creates or re-creates later - and nothing else.

Every check logs in *as* the role (the local server trusts 127.0.0.1), because
``SET ROLE`` from a superuser session would keep privileges a real BI login
never has. Roles are cluster-wide, so every test works on a role with a test-unique name
(``ECOMFLOW_BI_READER_ROLE``, the ``pg_role`` fixture) that is dropped afterwards: no test
depends on what an earlier test or run left on the server, and none leaves anything behind.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg2
import psycopg2.errors
import pytest
import sqlalchemy as sa

from tasks.warehouse import connect, replace_partition
from tasks.warehouse.access import (
    BI_READER_PASSWORD_ENV,
    BI_READER_ROLE_ENV,
    AccessError,
    ensure_bi_reader,
    scram_sha256_verifier,
)
from tests.conftest import _pg_admin_execute, _reset_settings

PASSWORD = "test-only-dummy-bi-password"
PRIVATE_TABLES = ("raw.users", "audit.quarantine", "ml.model_registry", "marts.fct_orders",
                  "features.user_profile", "staging.stg_users", "intermediate.int_orders",
                  "monitoring.drift", "public.scratch")


def _owner_execute(*statements: str) -> None:
    """Run DDL as the warehouse user, the role dbt and the scorers create tables with."""
    with connect() as conn:
        for sql in statements:
            conn.execute(sa.text(sql))


@pytest.fixture
def bi_role(pg_role: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """This test's BI role name, configured the way a deployment does (ECOMFLOW_BI_READER_ROLE)."""
    monkeypatch.setenv(BI_READER_ROLE_ENV, pg_role)
    _reset_settings()
    return pg_role


@pytest.fixture
def bi_database(postgres_home: str, bi_role: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh warehouse with tables in serving and in every schema BI must not see."""
    monkeypatch.setenv(BI_READER_PASSWORD_ENV, PASSWORD)
    _reset_settings()
    # As a leftover from an earlier run would: the role exists already (a run must not fail on that).
    _pg_admin_execute(f"CREATE ROLE {bi_role} NOLOGIN")
    statements = [f"CREATE SCHEMA IF NOT EXISTS {s.split('.')[0]}" for s in PRIVATE_TABLES]
    statements += [f"CREATE TABLE {t} (id INTEGER, secret TEXT)" for t in PRIVATE_TABLES]
    statements += [f"INSERT INTO {t} VALUES (1, 'hidden')" for t in PRIVATE_TABLES]
    statements += [
        "CREATE SCHEMA serving",
        "CREATE TABLE serving.daily_kpis (kpi_date DATE, revenue DOUBLE PRECISION)",
        "INSERT INTO serving.daily_kpis VALUES ('2026-01-01', 10.5)",
        # A serving view over marts (dbt's serving views): BI reads it with the view owner's rights.
        "CREATE VIEW serving.orders_view AS SELECT id FROM marts.fct_orders",
    ]
    _owner_execute(*statements)
    return postgres_home


def _login(database: str) -> psycopg2.extensions.connection:
    from tasks.settings import get_settings

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user=get_settings().bi_reader_role,
                            password=PASSWORD, dbname=database)
    conn.autocommit = True  # each denied statement must not poison the next
    return conn


def _select(database: str, table: str) -> list[tuple]:
    conn = _login(database)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {table}")
            return cur.fetchall()
    finally:
        conn.close()


def _denied(database: str, sql: str) -> bool:
    conn = _login(database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
        return False
    except psycopg2.errors.InsufficientPrivilege:
        return True
    finally:
        conn.close()


@pytest.mark.postgres
def test_bi_reader_reads_serving_now_and_later(bi_database: str) -> None:
    assert ensure_bi_reader() is True
    assert ensure_bi_reader() is True  # idempotent: a second pipeline run changes nothing and does not fail
    assert _select(bi_database, "serving.daily_kpis") == [(date(2026, 1, 1), 10.5)]
    assert _select(bi_database, "serving.orders_view") == [(1,)]

    # Created after the grant by the warehouse user (as dbt/scorers do): readable via default privileges.
    _owner_execute("CREATE TABLE serving.later (x INTEGER)", "INSERT INTO serving.later VALUES (7)")
    assert _select(bi_database, "serving.later") == [(7,)]

    # dbt's table materialisation: build __dbt_tmp, swap names, drop the old table.
    _owner_execute(
        "CREATE TABLE serving.daily_kpis__dbt_tmp AS SELECT DATE '2026-01-02' AS kpi_date, 20.0 AS revenue",
        "ALTER TABLE serving.daily_kpis RENAME TO daily_kpis__dbt_backup",
        "ALTER TABLE serving.daily_kpis__dbt_tmp RENAME TO daily_kpis",
        "DROP TABLE serving.daily_kpis__dbt_backup CASCADE",
        "DROP VIEW serving.orders_view",
        "CREATE VIEW serving.orders_view AS SELECT id * 2 AS id FROM marts.fct_orders",
    )
    assert _select(bi_database, "serving.daily_kpis") == [(date(2026, 1, 2), 20.0)]
    assert _select(bi_database, "serving.orders_view") == [(2,)]

    # A scorer's first publish creates its table through the warehouse I/O module.
    frame = pd.DataFrame({"as_of_date": [date(2026, 1, 3)], "score": [0.5]})
    replace_partition("serving.risk_labels", frame, {"as_of_date": date(2026, 1, 3)})
    assert _select(bi_database, "serving.risk_labels") == [(date(2026, 1, 3), 0.5)]


@pytest.mark.postgres
def test_bi_reader_is_denied_everything_else(bi_database: str, bi_role: str) -> None:
    # Stray rights from an earlier hand-made grant must be taken away, not kept.
    _owner_execute(f"GRANT USAGE ON SCHEMA raw TO {bi_role}",
                   f"GRANT SELECT, INSERT ON raw.users TO {bi_role}",
                   f"GRANT CREATE ON SCHEMA serving TO {bi_role}",
                   f"GRANT INSERT ON serving.daily_kpis TO {bi_role}")
    ensure_bi_reader()
    for table in PRIVATE_TABLES:
        assert _denied(bi_database, f"SELECT * FROM {table}"), f"bi_reader can read {table}"
    for sql in ("INSERT INTO serving.daily_kpis VALUES ('2026-01-09', 1.0)",
                "DELETE FROM serving.daily_kpis",
                "UPDATE serving.daily_kpis SET revenue = 0",
                "TRUNCATE serving.daily_kpis",
                "DROP TABLE serving.daily_kpis",
                "CREATE TABLE serving.bi_made (x INTEGER)",
                "CREATE TABLE public.bi_made (x INTEGER)",
                "CREATE SCHEMA bi_made",
                "INSERT INTO raw.users VALUES (2, 'x')"):
        assert _denied(bi_database, sql), f"bi_reader was allowed: {sql}"
    assert _select(bi_database, "serving.daily_kpis") == [(date(2026, 1, 1), 10.5)]


@pytest.mark.postgres
def test_password_is_stored_as_a_scram_verifier_of_the_configured_password(bi_database: str,
                                                                          bi_role: str) -> None:
    """Trust auth cannot prove the password, so check what the server stores against it."""
    ensure_bi_reader()
    with connect() as conn:
        stored, can_login = conn.execute(sa.text(
            "SELECT rolpassword, rolcanlogin FROM pg_authid WHERE rolname = :r"), {"r": bi_role}).one()
    assert can_login
    assert PASSWORD not in stored
    method, rest = stored.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = keys.split(":")[0]
    assert method == "SCRAM-SHA-256"
    salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    assert base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key
    assert stored != scram_sha256_verifier("another password", base64.b64decode(salt), int(iterations))


@pytest.mark.postgres
def test_a_grant_to_public_outside_serving_is_reported_not_ignored(bi_database: str) -> None:
    """The catalogue check sees what the role really gets, including grants to PUBLIC."""
    _owner_execute("CREATE TABLE public.shared_lookup (x INTEGER)",
                   "GRANT SELECT ON public.shared_lookup TO PUBLIC")
    with pytest.raises(AccessError, match=r"can read public\.shared_lookup"):
        ensure_bi_reader()


@pytest.mark.postgres
def test_hostile_role_or_schema_name_is_rejected_before_any_sql(bi_database: str) -> None:
    with pytest.raises(ValueError, match="invalid SQL identifier"):
        ensure_bi_reader(role='bi_reader"; DROP SCHEMA raw CASCADE; --')
    with pytest.raises(ValueError, match="invalid SQL identifier"):
        ensure_bi_reader(creators=['postgres"; DROP SCHEMA raw CASCADE; --'])
    with connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM raw.users")).scalar_one() == 1


@pytest.mark.postgres
def test_without_a_password_a_new_role_is_nologin_and_the_log_says_how_to_enable_it(
        postgres_home: str, bi_role: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The documented default: no ECOMFLOW_BI_READER_PASSWORD -> NOLOGIN, and the task log tells
    the operator what to set; setting it later (and re-running the task) enables BI logins."""
    monkeypatch.delenv(BI_READER_PASSWORD_ENV, raising=False)
    _reset_settings()
    with caplog.at_level(logging.INFO, logger="tasks.warehouse.access"):
        assert ensure_bi_reader() is True
    with connect() as conn:
        assert conn.execute(sa.text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :r"),
                            {"r": bi_role}).scalar_one() is False
    assert "created NOLOGIN" in caplog.text and BI_READER_PASSWORD_ENV in caplog.text
    assert "enable BI logins" in caplog.text
    with pytest.raises(psycopg2.OperationalError, match="not permitted to log in"):
        _login(postgres_home).close()

    monkeypatch.setenv(BI_READER_PASSWORD_ENV, PASSWORD)
    _reset_settings()
    assert ensure_bi_reader() is True
    conn = _login(postgres_home)
    conn.close()


def test_duckdb_is_a_logged_no_op(isolated_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tasks.warehouse.access"):
        assert ensure_bi_reader() is False
    assert "no database roles" in caplog.text
