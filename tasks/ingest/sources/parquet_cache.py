"""Materialise a source once into canonical Parquet files, then serve windows from them.

Daily and hourly DAG runs call ``read`` hundreds of times; parsing a CSV or
re-generating a synthetic shop each time would dominate the run. Each entity is
written sorted by its time column, so a window read only touches the row groups
whose min/max statistics overlap it.

The cache lives in ``$ECOMFLOW_HOME/source/<source id>/`` (the upstream
system's copy, the only place clear PII may be written) with a
``manifest.json``; it is rebuilt when missing or when its fingerprint (inputs
and generating code) changes. Builds take a file lock so parallel tasks do not
build the same cache twice, and the finished folder is renamed into place so
readers never see half a cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import uuid
from abc import abstractmethod
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.ingest.schema import ENTITIES
from tasks.ingest.sources.base import PARTITION_TIME, SOURCE_ROW, Source, conform, empty_frame
from tasks.settings import get_settings

ROW_GROUP_SIZE = 65_536
MANIFEST = "manifest.json"


def code_fingerprint(paths: Iterable[Path]) -> str:
    """Hash of the code that produces a cache, so a code change invalidates it."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def file_fingerprint(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class ParquetCachedSource(Source):
    """Base for sources that build all their entities in one go (``build``) and cache them."""

    source_id: str

    @abstractmethod
    def fingerprint(self) -> dict[str, object]:
        """JSON-able description of everything the cache content depends on."""

    @abstractmethod
    def build(self) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
        """Entity -> (rows with a parsed time column, unparseable rows with ``_reason``)."""

    # ---- cache management --------------------------------------------------
    @property
    def cache_dir(self) -> Path:
        return get_settings().source_cache / self.source_id

    def _manifest(self) -> dict | None:
        path = self.cache_dir / MANIFEST
        if not path.exists():
            return None
        manifest = json.loads(path.read_text())
        if manifest.get("fingerprint") != self.fingerprint():
            return None
        return manifest

    def ensure_cache(self) -> dict:
        """Return the manifest, building the cache first when missing or stale."""
        manifest = self._manifest()
        if manifest is not None:
            return manifest
        root = self.cache_dir.parent
        root.mkdir(parents=True, exist_ok=True)
        with open(root / f".{self.source_id}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            manifest = self._manifest()  # another process may have built it meanwhile
            if manifest is None:
                manifest = self._write_cache()
        return manifest

    def _write_cache(self) -> dict:
        frames = self.build()
        tmp = self.cache_dir.parent / f".tmp-{self.source_id}-{uuid.uuid4().hex}"
        tmp.mkdir(parents=True)
        coverage: dict[str, list[str | None]] = {}
        routing: dict[str, str] = {}
        for entity, (good, bad) in frames.items():
            # Rows are served to the partition of their routing time: their own time, unless the
            # source pinned them to a delivery day (PARTITION_TIME, see sources.base).
            route = PARTITION_TIME if PARTITION_TIME in good.columns else ENTITIES[entity].time_column
            good = conform(good, entity).sort_values([route, SOURCE_ROW], kind="stable")
            _write(good, tmp / f"{entity}.parquet")
            _write(conform(bad, entity, with_reason=True), tmp / f"{entity}.unparseable.parquet")
            times = good[route]
            coverage[entity] = ([times.min().isoformat(), times.max().isoformat()] if len(times) else [None, None])
            routing[entity] = route
        manifest = {"source": self.name, "fingerprint": self.fingerprint(),
                    "entities": sorted(frames), "coverage": coverage, "routing": routing}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        old = None
        if self.cache_dir.exists():
            old = self.cache_dir.parent / f".old-{self.source_id}-{uuid.uuid4().hex}"
            os.replace(self.cache_dir, old)
        os.replace(tmp, self.cache_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return json.loads(json.dumps(manifest, default=str))

    # ---- the Source contract ----------------------------------------------
    def coverage(self, entity: str | None = None) -> tuple[datetime, datetime]:
        manifest = self.ensure_cache()
        if entity is not None:
            self.check_entity(entity)
            spans = [manifest["coverage"][entity]]
        else:
            spans = list(manifest["coverage"].values())
        firsts = [s[0] for s in spans if s[0] is not None]
        lasts = [s[1] for s in spans if s[1] is not None]
        if not firsts:
            raise ValueError(f"source {self.name!r} has no rows" + (f" for {entity!r}" if entity else ""))
        return datetime.fromisoformat(min(firsts)), datetime.fromisoformat(max(lasts))

    def read(self, entity: str, start: datetime, end: datetime) -> pd.DataFrame:
        self.check_entity(entity)
        if end <= start:
            raise ValueError(f"empty window: start {start} must be before end {end}")
        manifest = self.ensure_cache()
        route = manifest.get("routing", {}).get(entity, ENTITIES[entity].time_column)
        table = pq.read_table(
            self.cache_dir / f"{entity}.parquet",
            filters=[(route, ">=", pd.Timestamp(start)), (route, "<", pd.Timestamp(end))],
        )
        if table.num_rows == 0:
            return empty_frame(entity)
        frame = table.to_pandas()
        time_col = ENTITIES[entity].time_column
        if route != time_col and pd.Timestamp(end) - pd.Timestamp(start) < pd.Timedelta(days=1):
            # Rows pinned to a delivery day belong to that day's daily load only; an hourly
            # load of its first hour must not fail on rows that are not from that hour at all.
            frame = frame[frame[route] == frame[time_col]]
        return frame.reset_index(drop=True)

    def known_ids(self, entity: str, column: str) -> set[str]:
        """Only the one column, from the cache files (a reference check runs on every load)."""
        self.check_entity(entity)
        self.ensure_cache()
        ids: set[str] = set()
        for name in (f"{entity}.parquet", f"{entity}.unparseable.parquet"):
            values = pq.read_table(self.cache_dir / name, columns=[column]).column(0).to_pylist()
            ids.update(str(v) for v in values if v is not None)
        return ids

    def unparseable(self, entity: str) -> pd.DataFrame:
        self.check_entity(entity)
        self.ensure_cache()
        table = pq.read_table(self.cache_dir / f"{entity}.unparseable.parquet")
        if table.num_rows == 0:
            return empty_frame(entity, with_reason=True)
        return table.to_pandas()


def _uniform_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn mixed-type object columns into text.

    A mapped column can mix parsed values and raw text (a bool map with an
    unmapped value, a sum with a non-numeric part); Parquet needs one type per
    column, and text keeps the bad value visible for the loader's quarantine.
    """
    out = frame
    for name in [c for c in frame.columns if pd.api.types.is_object_dtype(frame[c])]:
        values = frame[name]
        kinds = {type(v) for v in values.dropna()}
        if len(kinds) > 1:
            out = out.copy() if out is frame else out
            out[name] = values.map(lambda v: v if v is None or pd.isna(v) else str(v)).astype(object)
    return out


def _write(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(_uniform_types(frame), preserve_index=False)
    pq.write_table(table, path, row_group_size=ROW_GROUP_SIZE)
