"""Create and fill canonical raw tables for dbt tests, typed from tasks/ingest/schema.py.

The lead's loader owns ``ensure_raw_tables()``; these tests must not depend on it, so they
build the same shape (canonical columns + dt DATE, hr INTEGER, _source TEXT) themselves
through the real ``replace_partition``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from tasks.ingest.schema import ENTITIES, Entity
from tasks.warehouse import replace_partition

SQL_TYPES = {
    "string": "TEXT",
    "int": "BIGINT",
    "float": "DOUBLE PRECISION",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
}
PANDAS_TYPES = {
    "string": "object",
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "timestamp": "datetime64[ns]",
    "date": "object",
}


def column_types(entity: Entity) -> dict[str, str]:
    types = {c.name: SQL_TYPES[c.type] for c in entity.columns}
    types.update({"dt": "DATE", "hr": "INTEGER", "_source": "TEXT"})
    return types


def typed_frame(entity_name: str, rows: list[dict]) -> pd.DataFrame:
    """Frame with every canonical column (missing ones null) cast to the schema's types."""
    entity = ENTITIES[entity_name]
    frame = pd.DataFrame(rows, columns=[*entity.column_names, "dt", "hr", "_source"])
    for col in entity.columns:
        if col.type == "timestamp":
            frame[col.name] = pd.to_datetime(frame[col.name])
        elif col.type == "date":
            frame[col.name] = pd.to_datetime(frame[col.name]).dt.date
        else:
            frame[col.name] = frame[col.name].astype(PANDAS_TYPES[col.type])
    frame["dt"] = pd.to_datetime(frame["dt"]).dt.date
    frame["hr"] = frame["hr"].astype("Int64")
    frame["_source"] = frame["_source"].fillna("test").astype("object")
    return frame


def create_raw_tables() -> None:
    """Every canonical raw table, empty (what the loader guarantees before dbt runs)."""
    for name, entity in ENTITIES.items():
        replace_partition(
            f"raw.{name}", typed_frame(name, []), {"dt": date(1970, 1, 1)},
            column_types=column_types(entity),
        )


def write_raw(entity_name: str, rows: list[dict]) -> None:
    """Write rows into raw.<entity>, one replace_partition per (dt, hr) like the loader."""
    entity = ENTITIES[entity_name]
    frame = typed_frame(entity_name, rows)
    for (dt, hr), part in frame.groupby(["dt", "hr"], dropna=False, sort=True):
        hr_value = None if pd.isna(hr) else int(hr)
        replace_partition(
            f"raw.{entity_name}", part.reset_index(drop=True), {"dt": dt, "hr": hr_value},
            column_types=column_types(entity),
        )
