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
    """Replace one partition folder atomically (write beside it, then rename).

    Readers never see a half-written partition: either the old folder or the
    new one is there. The file is named part-0 so a re-run produces the same path.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.parent / f".tmp-{directory.name}-{uuid.uuid4().hex}"
    tmp.mkdir()
    pq.write_table(table, tmp / "part-0.parquet")
    old = None
    if directory.exists():
        old = directory.parent / f".old-{directory.name}-{uuid.uuid4().hex}"
        os.replace(directory, old)
    os.replace(tmp, directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return directory / "part-0.parquet"
