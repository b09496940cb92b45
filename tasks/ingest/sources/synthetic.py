"""The synthetic shop as a ``Source`` (size and seed from settings by default)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from tasks.ingest import synthetic as shop_generator
from tasks.ingest.sources.base import SOURCE_FILE, SOURCE_ROW
from tasks.ingest.sources.parquet_cache import ParquetCachedSource, code_fingerprint
from tasks.ingest.synthetic import DEFAULT_START, ENTITY_ORDER, generate
from tasks.settings import get_settings

_GENERATOR_DIR = Path(shop_generator.__file__).parent


class SyntheticSource(ParquetCachedSource):
    """Generated shop; the cache key is (size, seed, start[, drift day and kind]) plus the generator's code."""

    def __init__(self, size: str | None = None, seed: int | None = None, start: datetime = DEFAULT_START) -> None:
        settings = get_settings()
        self.size = (size or settings.synthetic_size).upper()
        if self.size not in shop_generator.SIZES:
            raise ValueError(f"synthetic size {self.size!r}: use one of {sorted(shop_generator.SIZES)}")
        self.seed = settings.synthetic_seed if seed is None else int(seed)
        self.start = start
        self.name = "synthetic"
        self.drift_day = settings.synthetic_drift_day
        self.drift_kind = settings.synthetic_drift_kind
        # A price drift keeps the names it always had; another kind is named (cache, source id).
        kind = "" if self.drift_kind == "price" else f"-{self.drift_kind}"
        self.source_id = f"synthetic-{self.size}-seed{self.seed}-{start:%Y%m%d}" + (
            f"-drift{self.drift_day}{kind}" if self.drift_day is not None else "")

    def entities(self) -> list[str]:
        return list(ENTITY_ORDER)

    def fingerprint(self) -> dict[str, object]:
        found: dict[str, object] = {"size": self.size, "seed": self.seed, "start": self.start.isoformat(),
                                    "code": code_fingerprint(_GENERATOR_DIR.glob("*.py"))}
        if self.drift_day is not None:  # only then: the undrifted shop keeps its cache key
            found["drift_day"] = self.drift_day
            if self.drift_kind != "price":
                found["drift_kind"] = self.drift_kind
        return found

    def build(self) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
        shop = generate(self.size, self.seed, self.start, drift_day=self.drift_day, drift_kind=self.drift_kind)
        out = {}
        for entity in ENTITY_ORDER:
            frame = shop[entity].copy()
            # No file behind generated rows: name the generator and the row of its output frame.
            frame[SOURCE_FILE] = f"synthetic(size={self.size},seed={self.seed})/{entity}"
            frame[SOURCE_ROW] = range(1, len(frame) + 1)
            out[entity] = (frame, frame.iloc[0:0])
        return out
