"""The suite's own guard against shared PostgreSQL state (issue 8): a test that leaves a role or
a database on the server fails, naming itself and what it left.

Runs an inner pytest session (pytester) with the real autouse fixture from ``tests/conftest.py``
against the real local server, so the guard is shown to catch a leak, not assumed to.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.conftest import _pg_admin_execute, _pg_cluster_state, drop_role_everywhere

pytest_plugins = ["pytester"]
REPO = Path(__file__).resolve().parents[2]

INNER_CONFTEST = "from tests.conftest import _no_leaked_postgres_state  # noqa: F401\n"


@pytest.mark.postgres
def test_a_leaked_role_or_database_fails_the_test_that_left_it(pytester: pytest.Pytester,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    role, db = f"ecomflow_t_leak_{uuid.uuid4().hex[:8]}", f"ecomflow_t_leak_{uuid.uuid4().hex[:8]}"
    ok_role = f"ecomflow_t_leak_ok_{uuid.uuid4().hex[:8]}"
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_inner=f"""
from tests.conftest import _pg_admin_execute

def test_clean():
    _pg_admin_execute("CREATE ROLE {ok_role}")
    _pg_admin_execute("DROP ROLE {ok_role}")

def test_leaks_a_role():
    _pg_admin_execute("CREATE ROLE {role}")

def test_leaks_a_database():
    _pg_admin_execute('CREATE DATABASE "{db}"')
""")
    try:
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        # the suite runs on two xdist workers: look only at this test's names
        monkeypatch.setenv("ECOMFLOW_TEST_PG_LEAK_PREFIX", "ecomflow_t_leak_")
        monkeypatch.delenv("ECOMFLOW_TEST_PG_LEAK_CHECK", raising=False)
        result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
        result.assert_outcomes(passed=3, errors=2)
        out = result.stdout.str()
        assert f"test_leaks_a_role left PostgreSQL state behind: roles ['{role}'], databases []" in out
        assert f"test_leaks_a_database left PostgreSQL state behind: roles [], databases ['{db}']" in out
        assert "test_clean left" not in out
    finally:
        drop_role_everywhere(role)
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@pytest.mark.postgres
def test_drop_role_everywhere_removes_a_role_with_grants_in_several_databases() -> None:
    """A role with privileges in a database cannot simply be dropped; the helper tests rely on can."""
    role = f"ecomflow_t_role_{uuid.uuid4().hex[:8]}"
    dbs = [f"ecomflow_t_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    _pg_admin_execute(f"CREATE ROLE {role} NOLOGIN")
    try:
        for db in dbs:
            _pg_admin_execute(f'CREATE DATABASE "{db}"')
            _pg_admin_execute(f'GRANT CONNECT ON DATABASE "{db}" TO {role}')
        drop_role_everywhere(role)
        state = _pg_cluster_state()
        assert state is not None and role not in state[0]
    finally:
        drop_role_everywhere(role)
        for db in dbs:
            _pg_admin_execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@pytest.mark.postgres
def test_a_parallel_run_that_leaks_fails_as_a_whole(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``-n 2`` the per-test check is off (it would see the other worker's databases);
    the controller compares the server before and after the whole run instead."""
    db = f"ecomflow_t_leak_{uuid.uuid4().hex[:8]}"
    pytester.makeconftest("from tests.conftest import _no_leaked_postgres_state, pytest_sessionfinish, "
                          "pytest_sessionstart  # noqa: F401\n")
    pytester.makepyfile(test_inner=f"""
from tests.conftest import _pg_admin_execute

def test_leaks_a_database():
    _pg_admin_execute('CREATE DATABASE "{db}"')

def test_other():
    pass
""")
    try:
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        monkeypatch.delenv("ECOMFLOW_TEST_PG_LEAK_CHECK", raising=False)
        result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", "-n", "2")
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        result.assert_outcomes(passed=2)
        assert db in result.stdout.str() and "left PostgreSQL state behind" in result.stdout.str()
    finally:
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
