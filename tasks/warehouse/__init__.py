"""Warehouse access: one engine, validated identifiers, atomic partition writes.

Callers never branch on DuckDB vs PostgreSQL; the differences live here.
"""

from tasks.warehouse.access import ensure_bi_reader
from tasks.warehouse.engine import connect, dispose_engine, get_engine, session
from tasks.warehouse.identifiers import qualified, quote_ident
from tasks.warehouse.io import (
    ensure_schema,
    partition_where,
    read_frame,
    replace_partition,
    replace_partitions,
    table_columns,
    table_exists,
)

__all__ = [
    "connect",
    "dispose_engine",
    "ensure_bi_reader",
    "partition_where",
    "ensure_schema",
    "get_engine",
    "qualified",
    "quote_ident",
    "read_frame",
    "replace_partition",
    "replace_partitions",
    "session",
    "table_columns",
    "table_exists",
]
