"""Content fingerprints of warehouse tables: prove a re-run or backfill changed nothing.

A fingerprint is the row count plus a SHA-256 over the table's rows, rendered to
text in a fixed way and sorted, so it does not depend on physical row order or
on which warehouse holds the table. Two states of the warehouse are "byte-for-byte
equivalent" when every table has the same fingerprint. ``ecomflow fingerprint``
prints them, so an engineer can check a re-run by hand the same way the tests do.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tasks.warehouse.engine import connect
from tasks.warehouse.identifiers import qualified, quote_ident

DEFAULT_SCHEMAS = ("raw", "audit", "staging", "intermediate", "marts", "features", "serving", "ml")


@dataclass(frozen=True)
class TableFingerprint:
    table: str
    rows: int
    duplicate_rows: int
    digest: str


def list_tables(schemas: Iterable[str] = DEFAULT_SCHEMAS, conn: sa.Connection | None = None) -> list[str]:
    """``schema.table`` for every base table and view in ``schemas``, sorted."""
    wanted = list(schemas)
    with _connection(conn) as c:
        rows = c.execute(sa.text(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "ORDER BY table_schema, table_name"
        )).fetchall()
    return [f"{s}.{t}" for s, t in rows if s in wanted]


@contextmanager
def _connection(conn: sa.Connection | None) -> Iterator[sa.Connection]:
    """``conn`` when given, else a new one. Why: each DuckDB connection opens the file and loads
    its catalogue (~0.1 s); a warehouse of ~100 tables fingerprinted with one connection per
    table spent most of its time opening the file."""
    if conn is not None:
        yield conn
        return
    with connect() as new:
        yield new


def _render(value: Any) -> str:
    """One value as text, identical for DuckDB and PostgreSQL drivers."""
    if value is None:
        return "\\N"
    if isinstance(value, float | Decimal):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        return repr(round(number, 9))
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def fingerprint_table(table: str, exclude_columns: Iterable[str] = (),
                      conn: sa.Connection | None = None) -> TableFingerprint:
    """Fingerprint one table; ``exclude_columns`` (e.g. ``run_id``) are left out of the digest."""
    excluded = set(exclude_columns)
    with _connection(conn) as conn:
        schema, name = table.split(".")
        columns = [r[0] for r in conn.execute(sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s "
            "AND table_name = :t ORDER BY column_name"), {"s": schema, "t": name}).fetchall()]
        kept = [c for c in columns if c not in excluded]
        select = ", ".join(quote_ident(c) for c in kept) or "1"
        result = conn.execute(sa.text(f"SELECT {select} FROM {qualified(table)}"))
        lines = sorted("\x1f".join(_render(v) for v in row) for row in result)
    digest = hashlib.sha256()
    digest.update("\x1f".join(kept).encode())
    for line in lines:
        digest.update(b"\n" + line.encode())
    duplicates = len(lines) - len(set(lines))
    return TableFingerprint(table, len(lines), duplicates, digest.hexdigest())


def fingerprint_warehouse(schemas: Iterable[str] = DEFAULT_SCHEMAS,
                          exclude_columns: Iterable[str] = ()) -> dict[str, TableFingerprint]:
    """Fingerprints of every table in ``schemas`` keyed by ``schema.table``."""
    excluded = tuple(exclude_columns)
    with connect() as conn:  # one snapshot of the whole warehouse, and one file open
        return {t: fingerprint_table(t, excluded, conn) for t in list_tables(schemas, conn)}


def diff_fingerprints(before: dict[str, TableFingerprint],
                      after: dict[str, TableFingerprint]) -> list[str]:
    """Human-readable differences; empty when the two states are equivalent."""
    problems = []
    for table in sorted(set(before) | set(after)):
        a, b = before.get(table), after.get(table)
        if a is None or b is None:
            problems.append(f"{table}: {'appeared' if a is None else 'disappeared'}")
        elif a != b:
            problems.append(f"{table}: rows {a.rows} -> {b.rows}, duplicate rows {a.duplicate_rows} -> "
                            f"{b.duplicate_rows}, content {'same' if a.digest == b.digest else 'changed'}")
    return problems
