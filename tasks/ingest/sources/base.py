"""What every data source hands to ingestion (the ``Source`` contract of docs/CONTRACTS.md).

A source only *maps* its data onto canonical column names; typing, validation,
PII hashing and quarantine are the loader's job, so a bad value must reach the
loader (with ``_source_file``/``_source_row``) instead of being dropped here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta

import pandas as pd

from tasks.ingest.schema import ENTITIES, PII_SOURCE_COLUMNS, Entity

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
# 1-based physical line in a text file, header included (null where the source has no lines):
# what an editor shows, and it differs from the row when values span lines or lines are blank.
SOURCE_LINE = "_source_line"
# Set by a source on a row it could not read cleanly (a CSV line with too few or too many
# fields); the loader quarantines such a row with this text as its reason.
SOURCE_ERROR = "_source_error"
# The instant that decides which partition a row is loaded with, when that is not its own
# time (a file delivered for one day: its misdated rows go to that day's load, to be
# rejected there, instead of silently into another day). Absent: the time column decides.
PARTITION_TIME = "_partition_time"
REASON = "_reason"
PROVENANCE = (SOURCE_FILE, SOURCE_ROW, SOURCE_LINE)
META = (*PROVENANCE, SOURCE_ERROR, PARTITION_TIME)

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
        null), clear PII columns where the source has them, then ``_source_file``,
        ``_source_row`` (1-based data row in that file, header not counted),
        ``_source_line`` (1-based line, header counted; null without lines) and
        ``_source_error`` (null, or why the source could not read the row cleanly).
        The meta columns may be absent in frames from older caches.
        """

    @abstractmethod
    def unparseable(self, entity: str) -> pd.DataFrame:
        """Rows whose time column could not be parsed, with ``_reason`` and provenance."""

    def known_ids(self, entity: str, column: str) -> set[str]:
        """Every value of ``column`` in ``entity`` the source has, at any time, as text.

        For reference checks: an order line's product is known when the source has that
        product at all. Rows whose time did not parse count too (the product exists; its own
        row is quarantined with its own reason, and must not drag its order lines along).
        """
        self.check_entity(entity)
        frames = [self.unparseable(entity)]
        try:
            first, last = self.coverage(entity)
            frames.append(self.read(entity, first, last + timedelta(microseconds=1)))
        except ValueError:  # no parseable rows at all
            pass
        return {str(v) for frame in frames if column in frame.columns for v in frame[column].dropna()}

    def derived_entities(self) -> list[str]:
        """Entities of ``entities()`` the source derives from its other rows (none by default)."""
        return []

    def extra_features(self, entity: str) -> dict[str, str]:
        """Shop-specific model features of ``entity`` (name -> ``numeric``|``categorical``).

        The source packs them into the ``extra_features`` JSON column as received; the
        loader types them with this declaration. None by default.
        """
        return {}

    def quarantine_max_share(self) -> float | None:
        """This source's own quarantine limit (a mapping's ``quarantine_max_share``), or None:
        use ``ECOMFLOW_QUARANTINE_MAX_SHARE``. A source knows best how dirty its data may be."""
        return None

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
    """Canonical column order: schema columns, clear PII present in the frame, provenance, meta."""
    pii = [c for c in PII_BY_ENTITY.get(entity, ()) if c in frame_columns]
    tail = [REASON] if with_reason else []
    routing = [PARTITION_TIME] if PARTITION_TIME in frame_columns else []
    return ENTITIES[entity].column_names + pii + tail + list(PROVENANCE) + [SOURCE_ERROR] + routing


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
    frame[SOURCE_LINE] = pd.Series(dtype="Int64")
    return frame
