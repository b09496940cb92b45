"""Least-privilege access for BI: a ``bi_reader`` role that reads ``serving`` and nothing else.

DESIGN.md: "BI reads only serving". ``raw`` and ``audit`` hold hashed personal
data and quarantine payloads; ``staging``/``intermediate``/``marts``/``features``/
``ml`` are internal contracts that change without notice. So BI tools log in as
a role that can SELECT from ``serving`` and cannot read, write or create
anything else.

dbt and the scorers drop and re-create ``serving`` tables, and a GRANT on a
table dies with it. ``ALTER DEFAULT PRIVILEGES FOR ROLE <creator>`` makes every
table that role creates in ``serving`` later readable too, so the creators are
the warehouse user itself (dbt and the scorers log in with the same settings)
plus any role passed in ``creators``.

``ensure_bi_reader`` is idempotent (run it after every serving publish if you
like) and verifies the result from the catalogue: it raises ``AccessError``
when the role could still read or write outside ``serving`` (say through a
grant to PUBLIC or a role membership), instead of trusting the GRANTs it ran.
DuckDB is an embedded file without roles: there it logs and does nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import unicodedata
from collections.abc import Iterable

import sqlalchemy as sa

from tasks.warehouse.engine import connect
from tasks.warehouse.identifiers import quote_ident

log = logging.getLogger(__name__)

BI_READER_ROLE = "bi_reader"  # the default; ECOMFLOW_BI_READER_ROLE names another (roles are cluster-wide)
BI_READER_ROLE_ENV = "ECOMFLOW_BI_READER_ROLE"
BI_READER_PASSWORD_ENV = "ECOMFLOW_BI_READER_PASSWORD"
SERVING_SCHEMA = "serving"
# Pipeline schemas nobody but the pipeline's own user reads: grants to PUBLIC on them are revoked too.
PRIVATE_SCHEMAS = ("raw", "audit", "staging", "intermediate", "marts", "features", "ml", "monitoring")
SCRAM_ITERATIONS = 4096  # PostgreSQL's own default (scram_iterations)


class AccessError(RuntimeError):
    """The role's privileges are not what BI access allows (or could not be set)."""


def bi_reader_role() -> str:
    """The BI role's name from ``ECOMFLOW_BI_READER_ROLE`` (default ``bi_reader``).

    Roles are cluster-wide: two warehouses on one server (or a test next to a user's own
    pipeline) that must not share a login get different names this way.
    """
    from tasks.settings import get_settings

    return get_settings().bi_reader_role


def bi_reader_password() -> str | None:
    """The ``bi_reader`` password from ``ECOMFLOW_BI_READER_PASSWORD`` (None when unset)."""
    from tasks.settings import get_settings

    password = get_settings().bi_reader_password
    return password.get_secret_value() if password is not None else None


def scram_sha256_verifier(password: str, salt: bytes | None = None,
                          iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677).

    Sending the verifier instead of the clear password keeps the password out
    of the server log and pg_stat_statements, which record ALTER ROLE text.
    """
    salt = os.urandom(16) if salt is None else salt
    normalised = unicodedata.normalize("NFKC", password)  # SASLprep, as far as ASCII-safe passwords need
    salted = hashlib.pbkdf2_hmac("sha256", normalised.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _quote_catalog_name(name: str) -> str:
    """Quote a name read from the catalogue (a database or schema that exists) by doubling quotes."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ddl(conn: sa.Connection, sql: str) -> None:
    """Run a statement with no bind parameters: a ':' inside a quoted name or literal stays text."""
    conn.execute(sa.text(sql.replace(":", "\\:")))


def _ensure_role(conn: sa.Connection, role: str, password: str | None) -> None:
    row = conn.execute(sa.text(
        "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls "
        "FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if row is None:
        try:
            # Another database's pipeline may create the cluster-wide role at the same moment.
            _ddl(conn, f"DO $$ BEGIN CREATE ROLE {quote_ident(role)} NOLOGIN; "
                 "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$")
        except sa.exc.ProgrammingError as exc:
            raise AccessError(
                f"cannot create role {role!r} as the warehouse user ({exc.orig}); create it once as an "
                f"admin (docker/postgres-init-bi-reader.sh does this for the compose stack)") from exc
        log.info("created role %s", role)
    elif row[0]:
        raise AccessError(f"role {role!r} exists with superuser/createdb/createrole/replication/bypassrls: "
                          "a BI login must not have them; fix it by hand (ALTER ROLE ... NOSUPERUSER ...)")
    if password:
        _ddl(conn, f"ALTER ROLE {quote_ident(role)} LOGIN PASSWORD {_literal(scram_sha256_verifier(password))}")
    elif row is None:
        log.warning("role %s created NOLOGIN, so BI tools cannot log in yet: set %s (an Airflow "
                    "variable/secret or the worker's environment) and re-run this task to enable BI "
                    "logins", role, BI_READER_PASSWORD_ENV)
    else:
        log.info("role %s: no %s set, login and password left as they are", role, BI_READER_PASSWORD_ENV)


def ensure_bi_reader(conn: sa.Connection | None = None, *, role: str | None = None,
                     password: str | None = None, schema: str = SERVING_SCHEMA,
                     creators: Iterable[str] = ()) -> bool:
    """Make ``role`` able to SELECT everything in ``schema`` (now and later) and nothing else.

    ``role`` defaults to ``ECOMFLOW_BI_READER_ROLE`` (``bi_reader``).
    ``password`` defaults to ``ECOMFLOW_BI_READER_PASSWORD``; with one the role
    can log in, without one a new role is NOLOGIN and an existing role keeps
    its login and password. ``creators``: roles besides the warehouse user that
    create tables in ``schema``. Returns False (after a log line) on DuckDB.
    """
    role = role if role is not None else bi_reader_role()
    if conn is None:
        with connect() as own:
            return ensure_bi_reader(own, role=role, password=password, schema=schema, creators=creators)
    if conn.dialect.name != "postgresql":
        log.info("warehouse is %s: it has no database roles, so there is no %s to set up; give BI tools "
                 "a read-only copy or a read-only connection to the file instead",
                 conn.dialect.name, role)
        return False
    role_q, schema_q = quote_ident(role), quote_ident(schema)
    creator_roles = [quote_ident(c) for c in creators]  # validated before any statement runs
    _ensure_role(conn, role, password if password is not None else bi_reader_password())

    def run(sql: str) -> None:
        _ddl(conn, sql)

    database, user = conn.execute(sa.text("SELECT current_database(), current_user")).one()
    run(f"GRANT CONNECT ON DATABASE {_quote_catalog_name(database)} TO {role_q}")
    run(f"CREATE SCHEMA IF NOT EXISTS {schema_q}")
    schema_owner = conn.execute(sa.text(
        "SELECT pg_get_userbyid(nspowner), pg_has_role(current_user, nspowner, 'MEMBER') "
        "FROM pg_namespace WHERE nspname = :s"), {"s": schema}).one()
    owners = list(dict.fromkeys([_quote_catalog_name(user), *creator_roles]
                                + ([_quote_catalog_name(schema_owner[0])] if schema_owner[1] else [])))

    # serving: USAGE + SELECT, and nothing more (REVOKE first so a re-run also removes stray rights).
    run(f"REVOKE CREATE ON SCHEMA {schema_q} FROM PUBLIC")
    run(f"REVOKE ALL ON SCHEMA {schema_q} FROM {role_q}")
    run(f"GRANT USAGE ON SCHEMA {schema_q} TO {role_q}")
    run(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema_q} FROM {role_q}")
    run(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema_q} TO {role_q}")
    for owner in owners:
        run(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} REVOKE ALL ON TABLES FROM {role_q}")
        run(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema_q} REVOKE ALL ON TABLES FROM {role_q}")
        run(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema_q} GRANT SELECT ON TABLES TO {role_q}")

    # Every other schema: nothing, including what an earlier hand-made grant gave.
    others = conn.execute(sa.text(
        "SELECT nspname FROM pg_namespace WHERE nspname <> :s AND nspname <> 'information_schema' "
        "AND nspname NOT LIKE 'pg\\_%' ORDER BY nspname"), {"s": schema}).scalars().all()
    for other in others:
        other_q = _quote_catalog_name(other)
        run(f"REVOKE ALL ON SCHEMA {other_q} FROM {role_q}")
        run(f"REVOKE ALL ON ALL TABLES IN SCHEMA {other_q} FROM {role_q}")
        run(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {other_q} FROM {role_q}")
        for owner in owners:
            run(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {other_q} REVOKE ALL ON TABLES FROM {role_q}")
        if other in PRIVATE_SCHEMAS:
            run(f"REVOKE ALL ON SCHEMA {other_q} FROM PUBLIC")
            run(f"REVOKE ALL ON ALL TABLES IN SCHEMA {other_q} FROM PUBLIC")
        if other == "public":
            run("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # the PostgreSQL >= 15 default, enforced
    problems = verify_bi_reader(conn, role=role, schema=schema)
    if problems:
        raise AccessError(f"role {role!r} in database {database!r} is not limited to reading {schema!r}:\n"
                          + "\n".join(f"  - {p}" for p in problems))
    log.info("role %s: SELECT on %s.* (tables created later by %s included), nothing on %d other schema(s)",
             role, schema, ", ".join(owners), len(others))
    return True


def verify_bi_reader(conn: sa.Connection, *, role: str | None = None,
                     schema: str = SERVING_SCHEMA) -> list[str]:
    """What ``role`` can do beyond reading ``schema``, or cannot read in it, from the catalogue.

    Uses ``has_*_privilege``, which counts grants to PUBLIC and through role
    membership, i.e. what a login as ``role`` would really get.
    """
    params = {"r": role if role is not None else bi_reader_role(), "s": schema}
    relations = (
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname <> 'information_schema' "
        "AND n.nspname NOT LIKE 'pg\\_%' "
    )
    problems = [f"can read {name}" for name in conn.execute(sa.text(
        "SELECT n.nspname || '.' || c.relname " + relations
        + "AND n.nspname <> :s AND has_schema_privilege(:r, n.oid, 'USAGE') "
        "AND has_table_privilege(:r, c.oid, 'SELECT') ORDER BY 1"), params).scalars()]
    problems += [f"can write {name}" for name in conn.execute(sa.text(
        "SELECT n.nspname || '.' || c.relname " + relations
        + "AND has_table_privilege(:r, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') ORDER BY 1"),
        params).scalars()]
    problems += [f"cannot read {name}" for name in conn.execute(sa.text(
        "SELECT n.nspname || '.' || c.relname " + relations
        + "AND n.nspname = :s AND NOT (has_schema_privilege(:r, n.oid, 'USAGE') "
        "AND has_table_privilege(:r, c.oid, 'SELECT')) ORDER BY 1"), params).scalars()]
    problems += [f"can create objects in schema {name}" for name in conn.execute(sa.text(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
        "AND nspname <> 'information_schema' AND has_schema_privilege(:r, oid, 'CREATE') ORDER BY 1"),
        params).scalars()]
    if conn.execute(sa.text("SELECT has_database_privilege(:r, current_database(), 'CREATE')"),
                    params).scalar_one():
        problems.append("can create schemas in the database")
    return problems
