"""Reading frames and replacing partitions atomically.

``replace_partition`` (one partition) and ``replace_partitions`` (many, for
historical loads) are the only ways code writes a warehouse table: they
delete exactly the partitions' rows and insert the new ones inside one
transaction, so a re-run never duplicates and a failure leaves the previous
good data in place.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa

from tasks.warehouse.engine import connect
from tasks.warehouse.identifiers import qualified, quote_ident

_PANDAS_TO_SQL = {
    "b": "BOOLEAN",
    "i": "BIGINT",
    "u": "BIGINT",
    "f": "DOUBLE PRECISION",
    "M": "TIMESTAMP",
    "O": "TEXT",
    "U": "TEXT",
}


def sql_type(series: pd.Series) -> str:
    """SQL column type for a pandas column (portable DuckDB/PostgreSQL subset)."""
    dtype = series.dtype
    if isinstance(dtype, pd.BooleanDtype):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(dtype):
        return "BIGINT"
    if pd.api.types.is_float_dtype(dtype):
        return "DOUBLE PRECISION"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "TIMESTAMP"
    if isinstance(dtype, pd.StringDtype):
        return "TEXT"
    if dtype is object or str(dtype) == "object":
        sample = series.dropna()
        if not sample.empty:
            first = sample.iloc[0]
            import datetime as _dt

            if isinstance(first, _dt.datetime):
                return "TIMESTAMP"
            if isinstance(first, _dt.date):
                return "DATE"
            if isinstance(first, bool):
                return "BOOLEAN"
        return "TEXT"
    return _PANDAS_TO_SQL.get(dtype.kind, "TEXT")


_ARROW_TO_SQL = (
    (pa.types.is_boolean, "BOOLEAN"), (pa.types.is_integer, "BIGINT"), (pa.types.is_floating, "DOUBLE PRECISION"),
    (pa.types.is_timestamp, "TIMESTAMP"), (pa.types.is_date, "DATE"),
)

# What the writers take: a pandas frame, or an Arrow table already in the table's types
# (``write_serving``), which DuckDB scans without converting Python objects.
Frame = pd.DataFrame | pa.Table


def arrow_sql_type(type_: pa.DataType) -> str:
    """SQL column type for an Arrow column (the same portable subset as ``sql_type``)."""
    return next((sql for test, sql in _ARROW_TO_SQL if test(type_)), "TEXT")


def _column_names(frame: Frame) -> list[str]:
    return list(frame.column_names if isinstance(frame, pa.Table) else frame.columns)


def _column_sql_type(frame: Frame, column: str) -> str:
    if isinstance(frame, pa.Table):
        return arrow_sql_type(frame.schema.field(column).type)
    return sql_type(frame[column])


def _all_in_partition(frame: Frame, column: str, value: Any) -> bool:
    """Whether every row of ``frame`` has ``column`` = ``value`` (null when ``value`` is None)."""
    if isinstance(frame, pa.Table):
        values = frame.column(column)
        if value is None:
            return values.null_count == len(values)
        equal = pc.equal(values, pa.scalar(value))
        return equal.null_count == 0 and bool(pc.all(equal).as_py())
    return bool(frame[column].isna().all() if value is None else (frame[column] == value).all())


def ensure_schema(conn: sa.Connection, schema: str) -> None:
    """Create ``schema`` unless it exists, safe when two tasks do it at the same moment.

    PostgreSQL's ``CREATE SCHEMA IF NOT EXISTS`` is not atomic: two sessions that both find the
    schema missing race on the catalog's unique index, and the loser gets a UniqueViolation (seen
    when two feature sets published in parallel under the scheduler). The statement runs in a
    savepoint, so losing that race leaves the caller's transaction usable and the schema exists.
    """
    if conn.dialect.name != "postgresql":
        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}"))
        return
    exists = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first()
    if exists:
        return
    try:
        with conn.begin_nested():
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}"))
    except sa.exc.IntegrityError:
        pass  # another session created it between our check and our CREATE


def table_columns(conn: sa.Connection, table: str) -> list[str] | None:
    """Column names of ``schema.table`` in order, or None when it does not exist.

    Uses information_schema (portable) rather than SQLAlchemy reflection, which
    the DuckDB dialect does not fully support.
    """
    qualified(table)  # a clear error for anything but a valid 'schema.table'
    schema, name = table.split(".")
    rows = conn.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"
        ),
        {"s": schema, "t": name},
    ).fetchall()
    return [r[0] for r in rows] or None


def table_exists(table: str) -> bool:
    with connect() as conn:
        return table_columns(conn, table) is not None


def _create_table(conn: sa.Connection, table: str, frame: Frame,
                  column_types: Mapping[str, str] | None) -> None:
    types = dict(column_types or {})
    cols = ", ".join(
        f"{quote_ident(c)} {types.get(c) or _column_sql_type(frame, c)}" for c in _column_names(frame)
    )
    conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {qualified(table)} ({cols})"))


def partition_where(partition: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``col = :p0 AND col IS NULL ...`` with bound parameters for a partition filter."""
    clauses, params = [], {}
    for i, (col, value) in enumerate(partition.items()):
        if value is None:
            clauses.append(f"{quote_ident(col)} IS NULL")
        else:
            clauses.append(f"{quote_ident(col)} = :p{i}")
            params[f"p{i}"] = value
    return (" AND ".join(clauses) or "1 = 1"), params


def _null_marker(frame: pd.DataFrame) -> str:
    """A NULL marker for COPY that no value of ``frame`` equals.

    A fixed marker such as ``\\N`` would turn that literal text value into NULL. Kept
    short: pandas truncates a long ``na_rep`` in nullable float columns.
    """
    text_columns = [c for c in frame.columns if frame[c].dtype == object]
    while True:
        marker = f"~N{uuid.uuid4().hex[:10]}~"
        if not any((frame[c] == marker).any() for c in text_columns):
            return marker


def _arrow_csv(frame: pd.DataFrame) -> io.BytesIO | None:
    """``frame`` as CSV for PostgreSQL's ``COPY ... (FORMAT csv)``, rendered by Arrow, or None
    when Arrow cannot convert a column (mixed-type objects, nested values): the caller then
    renders with pandas; also for tz-aware columns, which Arrow would write in UTC.

    Why: pandas' ``to_csv`` formats every value in Python and took 60 % of a 1M-row serving
    write (3.9 of 6.5 s, benchmarks/warehouse_writes.py); Arrow's writer does it in C++ in
    ~0.6 s. Arrow quotes every string and writes NULL as an unquoted empty field, which is
    exactly COPY csv's default NULL, so an empty string ("") and a NULL stay distinct and no
    NULL marker is needed.
    """
    if any(isinstance(frame[c].dtype, pd.DatetimeTZDtype) for c in frame.columns):
        return None  # pandas writes the local time and offset, which a TIMESTAMP column keeps as is
    try:
        return _table_csv(pa.Table.from_pandas(frame, preserve_index=False))
    except (pa.ArrowException, TypeError, ValueError):
        return None


def _table_csv(table: pa.Table) -> io.BytesIO:
    """An Arrow table as CSV for ``COPY ... (FORMAT csv)`` (see ``_arrow_csv``)."""
    buf = io.BytesIO()
    pa_csv.write_csv(table, buf, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    buf.seek(0)
    return buf


def _insert(conn: sa.Connection, table: str, frame: Frame) -> None:
    """Bulk insert: DuckDB scans the registered frame (an Arrow table without a copy),
    PostgreSQL streams a CSV through ``COPY``."""
    if len(frame) == 0:
        return
    dialect = conn.dialect.name
    cols = ", ".join(quote_ident(c) for c in _column_names(frame))
    if dialect == "duckdb":
        raw = conn.connection.driver_connection
        raw.register("_ecomflow_incoming", frame)
        try:
            raw.execute(
                f"INSERT INTO {qualified(table)} ({cols}) SELECT {cols} FROM _ecomflow_incoming"
            )
        finally:
            raw.unregister("_ecomflow_incoming")
    elif dialect == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        arrow_csv = _table_csv(frame) if isinstance(frame, pa.Table) else _arrow_csv(frame)
        if arrow_csv is not None:
            cursor.copy_expert(f"COPY {qualified(table)} ({cols}) FROM STDIN WITH (FORMAT csv, ENCODING 'UTF8')",
                               arrow_csv)
            return
        null_marker = _null_marker(frame)
        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False, na_rep=null_marker)
        buf.seek(0)
        cursor.copy_expert(
            f"COPY {qualified(table)} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '{null_marker}')", buf
        )
    else:  # pragma: no cover - only two warehouses are supported
        frame = frame.to_pandas() if isinstance(frame, pa.Table) else frame
        frame.to_sql(table.split(".")[1], conn, schema=table.split(".")[0],
                     if_exists="append", index=False)


def lock_table_for_write(conn: sa.Connection, table: str) -> None:
    """Serialise writers of ``table`` until the caller's transaction ends.

    Why: an hourly run replacing ``dt=D, hr=H`` and a daily run replacing all of
    ``dt=D`` can overlap (the daily run for D and the hourly run for D 23:00 both
    start at D+1 00:00). Under PostgreSQL's READ COMMITTED, the second DELETE
    does not see rows the first transaction inserted, so without a lock both
    inserts survive and the hour is duplicated. A transaction-scoped advisory
    lock per table makes the second writer wait and then delete the first
    writer's rows. DuckDB allows one writing process per file, so it is
    serialised already (``engine.connect`` retries on the file lock).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"ecomflow:{table}"})


def replace_partition(
    table: str,
    frame: Frame,
    partition: Mapping[str, Any],
    column_types: Mapping[str, str] | None = None,
    conn: sa.Connection | None = None,
) -> int:
    """Replace exactly the rows of ``partition`` in ``table`` with ``frame``, atomically.

    ``partition`` maps partition columns to values (e.g. ``{"dt": date, "hr": 3}``);
    every row of ``frame`` must carry those values. Creates the schema/table on
    first write. New columns in ``frame`` are added to the table (schema
    evolution is additive only). Returns the number of rows written.

    Pass ``conn`` to make several partition writes one transaction (the caller
    commits); otherwise the write gets its own transaction. ``frame`` may be an Arrow table
    already in the table's types (``write_serving``): DuckDB then inserts it without
    converting Python objects.
    """
    qualified(table)  # a clear error for anything but a valid 'schema.table'
    for col, value in partition.items():
        if col not in _column_names(frame):
            raise ValueError(f"{table}: frame lacks partition column {col!r}")
        if len(frame) and not _all_in_partition(frame, col, value):
            raise ValueError(f"{table}: rows outside partition {col}={value!r}")
    if conn is None:
        with connect() as own:
            return replace_partition(table, frame, partition, column_types, conn=own)
    _prepare_table(conn, table, frame, column_types)
    where, params = partition_where(partition)
    conn.execute(sa.text(f"DELETE FROM {qualified(table)} WHERE {where}"), params)
    _insert(conn, table, frame)
    return len(frame)


def _prepare_table(conn: sa.Connection, table: str, frame: Frame,
                   column_types: Mapping[str, str] | None) -> None:
    """Lock ``table`` for this transaction; create it, or add ``frame``'s new columns (additive only)."""
    lock_table_for_write(conn, table)
    ensure_schema(conn, table.split(".")[0])
    existing = table_columns(conn, table)
    if existing is None:
        _create_table(conn, table, frame, column_types)
        return
    for col in _column_names(frame):
        if col not in existing:
            typ = (column_types or {}).get(col) or _column_sql_type(frame, col)
            conn.execute(sa.text(f"ALTER TABLE {qualified(table)} ADD COLUMN {quote_ident(col)} {typ}"))


def replace_partitions(
    table: str,
    frame: pd.DataFrame,
    fixed: Mapping[str, Any],
    column: str,
    values: Sequence[Any],
    column_types: Mapping[str, str] | None = None,
    conn: sa.Connection | None = None,
) -> int:
    """Replace many partitions at once: the rows matching ``fixed`` whose ``column`` is one of
    ``values`` (e.g. 300 days of ``dt``) become ``frame``, in one DELETE and one bulk insert.

    Why: a historical load of years of daily partitions spent most of its time in per-partition
    round trips (one DELETE + INSERT per day and table); the result is the same as calling
    ``replace_partition`` once per value, in one transaction. A value without rows in ``frame``
    ends up empty, as its own ``replace_partition`` with an empty frame would leave it.
    """
    qualified(table)
    for col, value in {**fixed, column: None}.items():
        if col not in frame.columns:
            raise ValueError(f"{table}: frame lacks partition column {col!r}")
        if frame.empty:
            continue
        inside = frame[col].isin(list(values)) if col == column else (
            frame[col].isna() if value is None else frame[col] == value)
        if not inside.all():
            raise ValueError(f"{table}: rows outside the partitions being replaced ({col})")
    if conn is None:
        with connect() as own:
            return replace_partitions(table, frame, fixed, column, values, column_types, conn=own)
    if not len(values):
        return 0
    _prepare_table(conn, table, frame, column_types)
    where, params = partition_where(fixed)
    statement = sa.text(f"DELETE FROM {qualified(table)} WHERE {where} AND {quote_ident(column)} IN :_values")
    conn.execute(statement.bindparams(sa.bindparam("_values", expanding=True)),
                 {**params, "_values": list(values)})
    _insert(conn, table, frame)
    return len(frame)


def read_frame(sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run a query and return a DataFrame. Values go as bound parameters only."""
    with connect() as conn:
        result = conn.execute(sa.text(sql), dict(params or {}))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
