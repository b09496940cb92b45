"""A user's own CSV/Parquet files mapped onto the canonical schema by a YAML file, no code.

The mapping is validated when the source is created (keys, entities, canonical
columns, and that every referenced source column exists in its data file), so a
DAG fails at its first task with a message naming the mapping file, the key
and, for data problems, the data file and its available columns.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from tasks.ingest.schema import ENTITIES
from tasks.ingest.sources.base import REASON, SOURCE_FILE, SOURCE_ROW
from tasks.ingest.sources.mapping_config import (
    ColumnSpec,
    FileMapping,
    Mapping,
    MappingError,
    TimestampSpec,
    load_mapping,
)
from tasks.ingest.sources.parquet_cache import ParquetCachedSource, code_fingerprint, file_fingerprint

__all__ = ["MappingError", "MappingSource"]

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}


class MappingSource(ParquetCachedSource):
    def __init__(self, mapping_file: str | Path) -> None:
        self.mapping: Mapping = load_mapping(mapping_file)
        self.name = self.mapping.source_name
        self.source_id = f"mapping-{self.mapping.source_name}"
        for fm in self.mapping.files:
            _check_data_columns(self.mapping.mapping_file, fm)

    def entities(self) -> list[str]:
        return self.mapping.entities()

    def fingerprint(self) -> dict[str, object]:
        here = Path(__file__).parent
        return {
            "mapping": hashlib.sha256(self.mapping.raw_text.encode()).hexdigest()[:16],
            "mapping_file": str(self.mapping.mapping_file),
            "files": [file_fingerprint(f.path) for f in self.mapping.files],
            "code": code_fingerprint([here / "mapping.py", here / "mapping_config.py"]),
        }

    def build(self) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
        parts: dict[str, list[tuple[pd.DataFrame, pd.DataFrame]]] = {}
        for fm in self.mapping.files:
            parts.setdefault(fm.entity, []).append(map_file(self.mapping.mapping_file, fm))
        return {
            entity: (pd.concat([g for g, _ in pieces], ignore_index=True),
                     pd.concat([b for _, b in pieces], ignore_index=True))
            for entity, pieces in parts.items()
        }


# ---- reading ------------------------------------------------------------------
def _available_columns(fm: FileMapping) -> list[str]:
    if fm.format == "parquet":
        return list(pq.read_schema(fm.path).names)
    if fm.csv.names:
        return list(fm.csv.names)
    header = pd.read_csv(fm.path, sep=fm.csv.delimiter, encoding=fm.csv.encoding, nrows=0 if fm.csv.header else 1,
                         header=0 if fm.csv.header else None, quotechar=fm.csv.quotechar)
    if fm.csv.header:
        return [str(c) for c in header.columns]
    return [f"column_{i}" for i in range(1, header.shape[1] + 1)]


def _check_data_columns(mapping_file: Path, fm: FileMapping) -> None:
    if not fm.path.exists():
        raise MappingError(f"{mapping_file}: {fm.where}.path: data file not found: {fm.path}")
    try:
        available = _available_columns(fm)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise MappingError(f"{mapping_file}: {fm.where}: cannot read {fm.path} as {fm.format}: {exc}") from None
    for column, key in fm.source_columns().items():
        if column not in available:
            raise MappingError(f"{mapping_file}: {key}: source column {column!r} not found in data file "
                               f"{fm.path}; available columns: {available}")


def read_data_file(fm: FileMapping) -> pd.DataFrame:
    """The data file as text (CSV) or native values (Parquet), with 1-based ``_source_row``."""
    if fm.format == "parquet":
        frame = pd.read_parquet(fm.path)
    else:
        names = list(fm.csv.names) if fm.csv.names else None
        if not fm.csv.header and names is None:
            names = _available_columns(fm)
        frame = pd.read_csv(fm.path, sep=fm.csv.delimiter, encoding=fm.csv.encoding, dtype=str,
                            keep_default_na=False, header=0 if fm.csv.header else None, names=names,
                            quotechar=fm.csv.quotechar)
        frame = frame.replace({"": None})
    frame[SOURCE_ROW] = np.arange(1, len(frame) + 1)
    return frame


def _as_id(values: pd.Series) -> pd.Series:
    """Identifiers as trimmed text; '17850.0' (an int exported as float) becomes '17850'."""
    text = values.astype("string").str.strip().str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
    return text.where(text.notna() & (text != ""), None).astype(object)


def _column(frame: pd.DataFrame, spec: ColumnSpec) -> pd.Series | object:
    if spec.kind == "constant":
        return spec.constant
    if spec.kind == "column":
        values = frame[spec.source[0]]
        if spec.matches is not None:
            return values.astype("string").str.contains(spec.matches, regex=True).fillna(False).astype(bool)
        return values
    if spec.kind == "row_number":
        if spec.source:
            numbers = frame.groupby(list(spec.source), sort=False, dropna=False).cumcount() + 1
        else:
            numbers = pd.Series(np.arange(1, len(frame) + 1), index=frame.index)
        return (spec.prefix + numbers.astype(str)) if spec.prefix else numbers
    if spec.kind == "sum":
        parsed = [pd.to_numeric(frame[c], errors="coerce") for c in spec.source]
        total = sum(parsed)
        ok = np.logical_and.reduce([p.notna() | frame[c].isna() for p, c in zip(parsed, spec.source, strict=True)])
        # A part that is not a number keeps the raw text so the loader can quarantine the row and show it.
        raw = frame[list(spec.source)].astype("string").fillna("").agg("+".join, axis=1)
        return total.astype(object).where(ok, raw)
    # template: literal text with {SourceColumn} fields; a null field becomes empty text.
    result = pd.Series("", index=frame.index, dtype="string")
    for token in re.split(r"(\{[^{}]+\})", spec.template):
        if token.startswith("{") and token.endswith("}"):
            result = result + frame[token[1:-1]].astype("string").fillna("")
        elif token:
            result = result + token
    return result.astype(object)


def parse_times(values: pd.Series, spec: TimestampSpec) -> pd.Series:
    """Parse to UTC-naive datetimes; unparseable values become NaT (reported by the caller)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    elif spec.format == "month_name":
        month = values.astype("string").str.strip().str[:3].str.lower().map(_MONTHS)
        parsed = pd.to_datetime(
            pd.DataFrame({"year": spec.default_year, "month": month, "day": spec.default_day}), errors="coerce")
    elif spec.format in ("epoch_s", "epoch_ms"):
        parsed = pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit=spec.format[-1] if spec.format ==
                                "epoch_s" else "ms", errors="coerce")
    elif spec.format == "iso8601":
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=_has_offsets(values))
    else:
        parsed = pd.to_datetime(values, format=spec.format, errors="coerce", utc="%z" in spec.format)
        if spec.default_year is not None and "%Y" not in spec.format and "%y" not in spec.format:
            parsed = parsed.map(lambda t: t.replace(year=spec.default_year) if pd.notna(t) else t)
            parsed = pd.to_datetime(parsed)
        if "%d" not in spec.format and "%j" not in spec.format and spec.default_day != 1:
            parsed = parsed + pd.to_timedelta(spec.default_day - 1, unit="D")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    elif spec.timezone and spec.timezone != "UTC":
        parsed = (parsed.dt.tz_localize(spec.timezone, ambiguous="NaT", nonexistent="NaT")
                  .dt.tz_convert("UTC").dt.tz_localize(None))
    return parsed.astype("datetime64[ns]")


def _has_offsets(values: pd.Series) -> bool:
    sample = values.dropna().astype(str).head(1000)
    return bool(sample.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).any())


def map_file(mapping_file: Path, fm: FileMapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map one data file onto its entity: (rows with a parsed time, unparseable rows)."""
    data = read_data_file(fm)
    schema = ENTITIES[fm.entity]
    out = pd.DataFrame(index=data.index)
    for canonical, spec in fm.columns.items():
        out[canonical] = _column(data, spec)
    for canonical in fm.id_columns:
        if canonical in out:
            out[canonical] = _as_id(out[canonical])
    if fm.event_type_map and "event_type" in out:
        out["event_type"] = out["event_type"].map(lambda v: fm.event_type_map.get(str(v).strip(), v) if v is not None else v)
    if fm.boolean_map:
        for canonical, spec in fm.columns.items():
            if spec.kind == "column" and spec.matches is None and _is_bool(fm.entity, canonical):
                out[canonical] = out[canonical].map(
                    lambda v: fm.boolean_map.get(str(v).strip().lower(), v) if v is not None else v)
    raw_time = data[fm.timestamp.column]
    out[schema.time_column] = parse_times(raw_time, fm.timestamp)
    out[SOURCE_FILE] = str(fm.path)
    out[SOURCE_ROW] = data[SOURCE_ROW]
    bad = out[schema.time_column].isna()
    fmt = fm.timestamp.format
    bad_rows = out[bad].assign(**{REASON: (
        f"{fm.timestamp.column}=" + raw_time[bad].astype("string").fillna("<empty>").map(repr)
        + f" could not be parsed as {fmt!r}" + (f" in {fm.timestamp.timezone}" if fm.timestamp.timezone else ""))})
    return out[~bad], bad_rows


def _is_bool(entity: str, column: str) -> bool:
    try:
        return ENTITIES[entity].column(column).type == "bool"
    except KeyError:
        return False
