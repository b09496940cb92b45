"""Locations in the lake, the Parquet interchange between Spark and the warehouse.

Layout: ``<lake>/<zone>/<dataset>/dt=YYYY-MM-DD[/hr=HH]/part-0.parquet`` where
zone is ``landing`` (input exactly as received), ``raw`` (accepted rows after
validation) or ``features`` (Spark outputs, partitioned by ``as_of_date``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.partitions import Partition
from tasks.settings import get_settings

ZONES = ("landing", "raw", "features")


def dataset_root(zone: str, dataset: str) -> Path:
    if zone not in ZONES:
        raise ValueError(f"unknown lake zone {zone!r}; expected one of {ZONES}")
    return get_settings().lake_root / zone / dataset


def partition_dir(zone: str, dataset: str, partition: Partition) -> Path:
    return dataset_root(zone, dataset) / partition.path_suffix


def features_dir(feature_set: str, as_of_date: str) -> Path:
    return dataset_root("features", feature_set) / f"as_of_date={as_of_date}"


def write_partition(table: pa.Table, directory: Path) -> Path:
    """Replace one partition atomically: write a temporary file beside it, then rename.

    A partition is exactly one file (``part-0.parquet``), so an atomic file rename
    means readers see either the old partition or the new one, never half of it,
    and a re-run produces the same path.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "part-0.parquet"
    tmp = directory / f".part-0.{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(table, tmp)
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

    def write(self, table: pa.Table, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".part-0.{uuid.uuid4().hex}.tmp"
        pq.write_table(table, tmp)
        self._writes.append((tmp, directory / "part-0.parquet"))
        return tmp

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
