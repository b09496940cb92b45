"""Where feature outputs live in the lake (no pyspark import: publish uses it too)."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from tasks.lake import dataset_root, features_dir

_SCHEME_SQUASHED = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/(?!/)")


def lake_uri(path: Path | str) -> str:
    """A path string Spark and pyarrow accept, for local folders and URIs alike.

    ``Settings.lake_root`` is a ``Path``; ``Path("s3a://bucket/lake")`` collapses
    the double slash to ``s3a:/bucket/lake``, which this restores.
    """
    return _SCHEME_SQUASHED.sub(r"\1://", str(path))


def feature_output_path(feature_set: str, as_of_date: date, as_of_hour: datetime | None = None) -> Path:
    """``lake/features/<set>/as_of_date=D`` (daily) or ``.../as_of_hour=DTHH`` (hourly)."""
    if as_of_hour is None:
        return features_dir(feature_set, as_of_date.isoformat())
    return dataset_root("features", feature_set) / f"as_of_hour={as_of_hour:%Y-%m-%dT%H}"
