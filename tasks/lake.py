"""Locations in the lake, the Parquet interchange between Spark and the warehouse.

Layout: ``<lake>/<zone>/<dataset>/dt=YYYY-MM-DD[/hr=HH]/part-0.parquet`` where
zone is ``landing`` (input exactly as received), ``raw`` (accepted rows after
validation), ``features`` (Spark outputs, partitioned by ``as_of_date``) or
``compacted`` (a derived copy of an hourly raw entity: one file per day, see
``compacted_day_dir``).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.partitions import Partition
from tasks.settings import get_settings

ZONES = ("landing", "raw", "features", "compacted")

#: Footer key holding a unique id of every partition file written here (``write_partition``,
#: ``PendingWrites``): a compacted day records the ids of the hour files it copies.
WRITE_ID_KEY = b"ecomflow.write_id"
#: Footer key of a compacted day: JSON ``{"HH": write id}`` of the raw hour files it holds.
DAY_HOURS_KEY = b"ecomflow.hours"


def dataset_root(zone: str, dataset: str) -> Path:
    if zone not in ZONES:
        raise ValueError(f"unknown lake zone {zone!r}; expected one of {ZONES}")
    return get_settings().lake_root / zone / dataset


def partition_dir(zone: str, dataset: str, partition: Partition) -> Path:
    return dataset_root(zone, dataset) / partition.path_suffix


def features_dir(feature_set: str, as_of_date: str) -> Path:
    return dataset_root("features", feature_set) / f"as_of_date={as_of_date}"


def compacted_day_dir(dataset: str, partition: Partition) -> Path:
    """``compacted/<dataset>/dt=D``: all rows of the raw hour partitions of day D in one file.

    Why: an hourly entity has one small file per hour, so a 30-day window is ~700 files and a
    Spark scan pays per file (open, footer, task packing), which dominated the feature jobs
    (issue 15). The hour partitions stay the source of truth (an hour is still replaced on its
    own); the compacted file is an index over them. It names the write ids of the hour files it
    copies (``DAY_HOURS_KEY``), so a reader uses it only while those are still exactly the
    day's hour files (``compacted_day_is_current``) and otherwise reads the hours: a day can
    never be counted twice or from an old version.
    """
    return dataset_root("compacted", dataset) / f"dt={partition.dt.isoformat()}"


def day_manifest(hour_write_ids: dict[int, str]) -> dict[bytes, bytes]:
    """Footer metadata of a compacted day built from these hour files (hour -> write id)."""
    return {DAY_HOURS_KEY: json.dumps({f"{h:02d}": i for h, i in sorted(hour_write_ids.items())}).encode()}


def compacted_day_is_current(day_metadata: dict[bytes, bytes] | None, hour_metadata: dict[int, dict | None]) -> bool:
    """Whether a compacted day (its footer metadata) holds exactly the current hour files
    (hour -> footer metadata of every raw file of that day, empty ones included)."""
    recorded = (day_metadata or {}).get(DAY_HOURS_KEY)
    if recorded is None:
        return False
    current = {f"{h:02d}": (meta or {}).get(WRITE_ID_KEY, b"").decode() for h, meta in hour_metadata.items()}
    return "" not in current.values() and json.loads(recorded) == current


def _stamped(table: pa.Table, write_id: str) -> pa.Table:
    return table.replace_schema_metadata({**(table.schema.metadata or {}), WRITE_ID_KEY: write_id.encode()})


def write_partition(table: pa.Table, directory: Path) -> Path:
    """Replace one partition atomically: write a temporary file beside it, then rename.

    A partition is exactly one file (``part-0.parquet``), so an atomic file rename
    means readers see either the old partition or the new one, never half of it,
    and a re-run produces the same path.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "part-0.parquet"
    write_id = uuid.uuid4().hex
    tmp = directory / f".part-0.{write_id}.tmp"
    try:
        pq.write_table(_stamped(table, write_id), tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def remove_partition(directory: Path) -> None:
    """Remove a partition folder (rename first so readers never see it half-deleted)."""
    if directory.exists():
        old = directory.parent / f".old-{directory.name}-{uuid.uuid4().hex}"
        os.replace(directory, old)
        shutil.rmtree(old, ignore_errors=True)


class PendingWrites:
    """Lake writes staged during a warehouse transaction and published after it commits.

    Why: ingestion writes one partition to the lake (read by Spark) and to the
    warehouse (read by dbt/GX). If the lake files were renamed into place before
    the warehouse transaction committed, a failure or a kill between the two
    would leave the lake holding data the warehouse rolled back. Staging writes
    the Parquet to hidden temporary files beside their targets (readers ignore
    names starting with ``.``); ``publish`` renames them only after the commit,
    ``discard`` deletes them when the transaction failed. A kill after the
    commit but before ``publish`` leaves the previous lake files complete and
    the retry converges both stores.
    """

    def __init__(self) -> None:
        self._writes: list[tuple[Path, Path]] = []  # (staged tmp file, target file)
        self._removals: list[Path] = []

    def write(self, table: pa.Table, directory: Path) -> str:
        """Stage ``directory/part-0.parquet``; returns the file's write id (``WRITE_ID_KEY``)."""
        directory.mkdir(parents=True, exist_ok=True)
        write_id = uuid.uuid4().hex
        tmp = directory / f".part-0.{write_id}.tmp"
        pq.write_table(_stamped(table, write_id), tmp)
        self._writes.append((tmp, directory / "part-0.parquet"))
        return write_id

    def remove(self, directory: Path) -> None:
        self._removals.append(directory)

    def publish(self) -> None:
        for tmp, target in self._writes:
            os.replace(tmp, target)
        for directory in self._removals:
            remove_partition(directory)
        self._writes.clear()
        self._removals.clear()

    def discard(self) -> None:
        for tmp, _ in self._writes:
            tmp.unlink(missing_ok=True)
        self._writes.clear()
        self._removals.clear()
