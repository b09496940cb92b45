"""What every data source hands to ingestion (the ``Source`` contract of docs/CONTRACTS.md).

A source only *maps* its data onto canonical column names; typing, validation,
PII hashing and quarantine are the loader's job, so a bad value must reach the
loader (with ``_source_file``/``_source_row``) instead of being dropped here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

import pandas as pd

from tasks.ingest.schema import ENTITIES, PII_SOURCE_COLUMNS, Entity

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
REASON = "_reason"
PROVENANCE = (SOURCE_FILE, SOURCE_ROW)

# Clear PII columns a source may emit per entity; ingestion hashes each into
# the matching ``*_hash`` column of PII_SOURCE_COLUMNS and drops the clear value.
PII_BY_ENTITY: dict[str, tuple[str, ...]] = {
    "users": ("email", "name"),
    "transactions": ("ip", "ip_address", "card_number"),
}


class Source(ABC):
    """A provider of canonical raw entities over a time range.

    Implementations must be deterministic: reading the same window twice gives
    the same rows, so re-running a partition replaces it with identical data.
    """

    name: str

    @abstractmethod
    def entities(self) -> list[str]:
        """Canonical entity names this source provides (a subset of ``schema.ENTITIES``)."""

    @abstractmethod
    def coverage(self, entity: str | None = None) -> tuple[datetime, datetime]:
        """First and last timestamp (UTC naive) over all entities, or over one ``entity``."""

    @abstractmethod
    def read(self, entity: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Rows of ``entity`` whose time column is in ``[start, end)``.

        Columns: every canonical column of the entity (missing optional ones are
        null), clear PII columns where the source has them, then ``_source_file``
        and ``_source_row`` (1-based data row in that file, header not counted).
        """

    @abstractmethod
    def unparseable(self, entity: str) -> pd.DataFrame:
        """Rows whose time column could not be parsed, with ``_reason`` and provenance."""

    def check_entity(self, entity: str) -> Entity:
        """Fail loudly on an entity this source does not provide (a typo must not read as 'no data')."""
        if entity not in ENTITIES:
            raise ValueError(f"unknown entity {entity!r}; canonical entities are {sorted(ENTITIES)}")
        if entity not in self.entities():
            raise ValueError(f"source {self.name!r} does not provide {entity!r}; it provides {self.entities()}")
        return ENTITIES[entity]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def output_columns(entity: str, frame_columns: list[str] | pd.Index, with_reason: bool = False) -> list[str]:
    """Canonical column order: schema columns, clear PII present in the frame, provenance."""
    pii = [c for c in PII_BY_ENTITY.get(entity, ()) if c in frame_columns]
    tail = [REASON] if with_reason else []
    return ENTITIES[entity].column_names + pii + tail + list(PROVENANCE)


def conform(frame: pd.DataFrame, entity: str, with_reason: bool = False) -> pd.DataFrame:
    """Add missing canonical columns as nulls and put columns in canonical order.

    Columns that are neither canonical, clear PII nor provenance are dropped
    here on purpose: extra columns would otherwise leak into landing files.
    """
    for pii in frame.columns.intersection(list(PII_SOURCE_COLUMNS)):
        if pii not in PII_BY_ENTITY.get(entity, ()):
            raise ValueError(f"clear PII column {pii!r} is not expected on entity {entity!r}")
    columns = output_columns(entity, frame.columns, with_reason)
    out = frame.reindex(columns=columns)
    for name in columns:
        if name not in frame.columns:
            out[name] = None
    return out


def empty_frame(entity: str, with_reason: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in output_columns(entity, [], with_reason)})
    frame[ENTITIES[entity].time_column] = pd.Series(dtype="datetime64[ns]")
    frame[SOURCE_ROW] = pd.Series(dtype="int64")
    return frame
