"""A user's own CSV/Parquet files mapped onto the canonical schema by a YAML file, no code.

The mapping is validated when the source is created (keys, entities, canonical
columns, and that every referenced source column exists in its data file), so a
DAG fails at its first task with a message naming the mapping file, the key
and, for data problems, the data file and its available columns.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import hashlib
import io
import json
import logging
import lzma
import re
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.ingest.errors import BadInputError, SchemaError, UnreadableFileError, close_match, location
from tasks.ingest.schema import ENTITIES
from tasks.ingest.sources.base import (
    META,
    PARTITION_TIME,
    REASON,
    SOURCE_ERROR,
    SOURCE_FILE,
    SOURCE_LINE,
    SOURCE_ROW,
    empty_frame,
)
from tasks.ingest.sources.derive import assign_sessions, date_profiles, derive_products, derive_users
from tasks.ingest.sources.mapping_config import (
    EPOCH_UNITS,
    FIRST_SEEN,
    PROFILE_ENTITIES,
    ColumnSpec,
    FileMapping,
    Mapping,
    MappingError,
    TimestampSpec,
    WideSpec,
    load_mapping,
)
from tasks.ingest.sources.parquet_cache import ParquetCachedSource, code_fingerprint, file_fingerprint

__all__ = ["DataFileSchemaError", "MappingError", "MappingSource"]

log = logging.getLogger(__name__)

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

    def derived_entities(self) -> list[str]:
        return self.mapping.derived_entities()

    def extra_features(self, entity: str) -> dict[str, str]:
        return self.mapping.extra_features(entity)

    def quarantine_max_share(self) -> float | None:
        return self.mapping.quarantine_max_share

    def fingerprint(self) -> dict[str, object]:
        here = Path(__file__).parent
        return {
            "mapping": hashlib.sha256(self.mapping.raw_text.encode()).hexdigest()[:16],
            "mapping_file": str(self.mapping.mapping_file),
            "files": [file_fingerprint(f.path) for f in self.mapping.files],
            "code": code_fingerprint([here / "mapping.py", here / "mapping_config.py", here / "derive.py"]),
        }

    def build(self) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
        parts: dict[str, list[tuple[pd.DataFrame, pd.DataFrame]]] = {}
        for fm in self.mapping.files:
            parts.setdefault(fm.entity, []).append(map_file(self.mapping.mapping_file, fm))
        out = {}
        for entity, pieces in parts.items():
            good = pd.concat([g for g, _ in pieces], ignore_index=True)
            if PARTITION_TIME in good.columns:  # files without a declared day route by their own time
                time_col = ENTITIES[entity].time_column
                good[PARTITION_TIME] = good[PARTITION_TIME].fillna(good[time_col])
            out[entity] = (good, pd.concat([b for _, b in pieces], ignore_index=True))
        derive = self.mapping.derive
        if derive.sessions and "events" in out:
            good, bad = out["events"]
            out["events"] = (assign_sessions(good, derive.inactivity_minutes), bad)
        good_frames = {entity: frames[0] for entity, frames in out.items()}
        for entity, key in PROFILE_ENTITIES.items():
            if entity in out and any(f.entity == entity and f.timestamp.format == FIRST_SEEN
                                     for f in self.mapping.files):
                out[entity] = date_profiles(entity, key, *out[entity], good_frames)
                good_frames[entity] = out[entity][0]
        origin = str(self.mapping.mapping_file)
        if derive.users:
            out["users"] = (derive_users(good_frames, origin), empty_frame("users", with_reason=True))
        if derive.products:
            out["products"] = (derive_products(good_frames, origin), empty_frame("products", with_reason=True))
        return out


# ---- reading ------------------------------------------------------------------
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_HEADER_PROBE_BYTES = 1 << 20


class DataFileSchemaError(MappingError, SchemaError):
    """A column the mapping reads is not in the data file (missing, or renamed upstream).

    Both a ``MappingError`` (the message starts with the mapping file and key, like every
    mapping problem) and a ``SchemaError`` (the data file drifted: reject it whole).
    """


def _read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's (decompressed) bytes, all or the first ``limit``."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [n for n in archive.namelist() if not n.endswith("/")]
                if len(members) != 1:
                    raise UnreadableFileError(f"{path}: a .zip data file must hold exactly one file, "
                                              f"this one holds {members}", file=path)
                with archive.open(members[0]) as handle:
                    return handle.read(-1 if limit is None else limit)
        with _OPENERS.get(suffix, open)(path, "rb") as handle:
            return handle.read(-1 if limit is None else limit)
    except (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as exc:
        if suffix in _OPENERS or suffix == ".zip":
            raise UnreadableFileError(f"{path}: cannot decompress the file ({exc}): it is cut off or damaged; "
                                      "deliver it again", file=path) from None
        raise UnreadableFileError(f"{path}: cannot read the file ({exc})", file=path) from None


def _empty_file_error(path: Path) -> UnreadableFileError:
    return UnreadableFileError(
        f"{path}: the file is empty (0 bytes), so not even a header line: an export or copy that "
        "did not finish? (a file with only the header line is fine and loads 0 rows)", file=path)


def _encoding_error(data: bytes, exc: UnicodeDecodeError, fm: FileMapping, mapping_file: Path,
                    ) -> UnreadableFileError:
    """Name the line, byte offset and column of the first byte that does not decode."""
    offset = exc.start
    line = data.count(b"\n", 0, offset) + 1
    line_start = data.rfind(b"\n", 0, offset) + 1
    prefix = data[line_start:offset].decode(fm.csv.encoding, errors="replace")
    field_index = max(len(next(csv.reader([prefix], delimiter=fm.csv.delimiter, quotechar=fm.csv.quotechar),
                               [])) - 1, 0)
    header_line = data.split(b"\n", 1)[0].decode(fm.csv.encoding, errors="replace").lstrip("\ufeff")
    names = (list(fm.csv.names) if fm.csv.names else
             next(csv.reader([header_line], delimiter=fm.csv.delimiter, quotechar=fm.csv.quotechar), [])
             if fm.csv.header else [])
    column = names[field_index] if field_index < len(names) else f"field {field_index + 1}"
    bad = data[offset:exc.end]
    try:
        data.decode("cp1252")
        guess = (f"the whole file decodes as cp1252 (Windows-1252; there {bad!r} is "
                 f"{bad.decode('cp1252')!r}): if that reads right, declare it with "
                 f"`{fm.where}.csv.encoding: cp1252` in {mapping_file}, or re-save the file as UTF-8")
    except UnicodeDecodeError:
        guess = (f"declare the file's real encoding in `{fm.where}.csv.encoding` in {mapping_file} "
                 "(e.g. latin-1), or re-save the file as UTF-8")
    return UnreadableFileError(
        f"{location(fm.path, line, column, offset)}: byte(s) {bad!r} are not valid {fm.csv.encoding} "
        f"({exc.reason}), the encoding the mapping expects ({fm.where}.csv.encoding, default utf-8); {guess}",
        file=fm.path, line=line, column=column)


def _decode(data: bytes, fm: FileMapping, mapping_file: Path) -> str:
    try:
        text = data.decode(fm.csv.encoding)
    except UnicodeDecodeError as exc:
        raise _encoding_error(data, exc, fm, mapping_file) from None
    return text[1:] if text.startswith("\ufeff") else text  # a UTF-8 byte-order mark is not part of the header


def _csv_header(fm: FileMapping, mapping_file: Path) -> list[str]:
    """Column names from the first line only (the mapping is checked on every DAG run: keep it cheap)."""
    if fm.csv.names:
        return list(fm.csv.names)
    data = _read_bytes(fm.path, _HEADER_PROBE_BYTES)
    if not data:
        raise _empty_file_error(fm.path)
    try:
        text = codecs.getincrementaldecoder(fm.csv.encoding)("strict").decode(data, final=False)
    except UnicodeDecodeError as exc:
        raise _encoding_error(data, exc, fm, mapping_file) from None
    text = text.lstrip("\ufeff")
    first = next((r for r in csv.reader(io.StringIO(text, newline=""), delimiter=fm.csv.delimiter,
                                        quotechar=fm.csv.quotechar) if r), [])
    if fm.csv.header:
        return [str(c) for c in first]
    return [f"column_{i}" for i in range(1, len(first) + 1)]


def _available_columns(fm: FileMapping, mapping_file: Path) -> list[str]:
    if fm.format == "parquet":
        try:
            return list(pq.read_schema(fm.path).names)
        except (pa.ArrowException, OSError) as exc:
            raise _parquet_error(fm.path, exc) from None
    return _csv_header(fm, mapping_file)


def _parquet_error(path: Path, exc: Exception) -> UnreadableFileError:
    if path.exists() and path.stat().st_size == 0:
        return _empty_file_error(path)
    return UnreadableFileError(
        f"{path}: not a readable Parquet file ({exc}): most often a copy or upload that was cut off; "
        "nothing of it is loaded - deliver the file again", file=path)


def _check_data_columns(mapping_file: Path, fm: FileMapping) -> None:
    if not fm.path.exists():
        raise MappingError(f"{mapping_file}: {fm.where}.path: data file not found: {fm.path}")
    try:
        available = _available_columns(fm, mapping_file)
    except BadInputError:
        raise
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise MappingError(f"{mapping_file}: {fm.where}: cannot read {fm.path} as {fm.format}: {exc}") from None
    where = "line 1, the header" if fm.format == "csv" and fm.csv.header else "its columns"
    if fm.wide is not None:
        melted = fm.wide.matches(available)
        if not melted:
            raise DataFileSchemaError(
                f"{mapping_file}: {fm.where}.wide.columns: the pattern {fm.wide.pattern!r} matches no column of "
                f"{fm.path} ({where}); available columns: {available[:20]}{' ...' if len(available) > 20 else ''}",
                file=fm.path, column=fm.wide.pattern)
        available = [c for c in available if c not in set(melted)] + [fm.wide.value, fm.wide.day]
    for column, key in fm.source_columns().items():
        if column not in available:
            renamed = close_match(column, available)
            cause = f"renamed to {renamed!r}?" if renamed else "dropped or renamed upstream?"
            raise DataFileSchemaError(
                f"{mapping_file}: {key}: source column {column!r} not found in data file {fm.path} ({where}): "
                f"{cause} The whole file is rejected; fix the file or the mapping. "
                f"available columns: {available}", file=fm.path, line=1 if where.startswith("line") else None,
                column=column)


def _physical_lines(text: str) -> int:
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def _csv_records(text: str, fm: FileMapping) -> tuple[list[list[str]], list[int]]:
    """Non-blank records and the 1-based line each starts on (blank lines count as lines)."""
    options = {"delimiter": fm.csv.delimiter, "quotechar": fm.csv.quotechar}
    start = 1
    try:
        # Usual case, at C speed: one record per physical line, so record i starts on line i.
        records = list(csv.reader(io.StringIO(text, newline=""), **options))
        if len(records) == _physical_lines(text):
            lines = [i for i, record in enumerate(records, start=1) if record]
            return [record for record in records if record], lines
        # Values spanning lines (or lone CR line ends): follow the reader's line count.
        records, lines = [], []
        rows = csv.reader(io.StringIO(text, newline=""), **options)
        for record in rows:
            if record:
                records.append(record)
                lines.append(start)
            start = rows.line_num + 1
    except csv.Error as exc:
        raise UnreadableFileError(f"{location(fm.path, start)}: cannot parse as CSV ({exc}); an unclosed "
                                  f"quote {fm.csv.quotechar!r} on or before this line?", file=fm.path, line=start
                                  ) from None
    return records, lines


def _ends_inside_quotes(text: str, start_line: int, quotechar: str) -> bool:
    """True when the text from ``start_line`` to the end has an odd number of quote characters."""
    newline = "\n" if "\n" in text else "\r"
    cut = len(text)
    for _ in range(text.count(newline) + 1 - start_line + 1):
        cut = text.rfind(newline, 0, cut)
        if cut < 0:
            break
    return text[cut + 1:].count(quotechar) % 2 == 1


def _cut_off_reason(line: int, n_fields: int, width: int, fm: FileMapping, in_quotes: bool) -> str:
    where = (f"inside a quoted value of this row (no closing {fm.csv.quotechar!r}" if in_quotes
             else f"inside this row ({n_fields} of {width} fields")
    return f"line {line}: the file ends {where}, no final line break): the file looks cut off - deliver it again"


def _ragged_reason(line: int, n_fields: int, width: int, fm: FileMapping) -> str:
    if n_fields > width:
        return (f"line {line}: {n_fields} fields where the header has {width}: a value containing "
                f"{fm.csv.delimiter!r} without quotes?")
    return f"line {line}: {n_fields} field(s) where the header has {width}: values missing at the end of the line"


def _read_csv(fm: FileMapping, mapping_file: Path) -> pd.DataFrame:
    data = _read_bytes(fm.path)
    if not data:
        raise _empty_file_error(fm.path)
    text = _decode(data, fm, mapping_file)
    records, lines = _csv_records(text, fm)
    if fm.csv.header:
        if not records:
            raise _empty_file_error(fm.path)
        header_line, header = lines[0], [str(c) for c in records[0]]
        records, lines = records[1:], lines[1:]
        seen: dict[str, int] = {}
        for i, name in enumerate(header, start=1):
            if name in seen and not fm.csv.names:
                raise SchemaError(f"{location(fm.path, header_line, name)}: the header names this column twice "
                                  f"(fields {seen[name]} and {i}); rename one", file=fm.path, line=header_line,
                                  column=name)
            seen[name] = i
        header = list(fm.csv.names) if fm.csv.names else header
    elif fm.csv.names:
        header = list(fm.csv.names)
    else:
        header = [f"column_{i}" for i in range(1, len(records[0]) + 1)] if records else []
    width = len(header)
    errors: list[str | None] = [None] * len(records)
    for i, record in enumerate(records):
        if len(record) != width:
            errors[i] = _ragged_reason(lines[i], len(record), width, fm)
            records[i] = (record + [None] * width)[:width]
    if records and not text.endswith(("\n", "\r")):
        # No final line break: a cut file, if the last row is short or a quote is left open.
        n_fields = width if errors[-1] is None else len(records[-1]) - records[-1].count(None)
        in_quotes = _ends_inside_quotes(text, lines[-1], fm.csv.quotechar)
        if in_quotes or n_fields < width:
            errors[-1] = _cut_off_reason(lines[-1], n_fields, width, fm, in_quotes)
        else:
            log.warning("%s: no line break after the last line (%d); if the file was cut off, the values of "
                        "that row may be incomplete", fm.path, lines[-1])
    frame = pd.DataFrame(records, columns=header, dtype=object) if records else pd.DataFrame(
        {c: pd.Series(dtype=object) for c in header})
    frame = frame.replace({"": None})
    frame[SOURCE_LINE] = np.asarray(lines, dtype="int64")
    frame[SOURCE_ERROR] = pd.Series(errors, index=frame.index, dtype=object)
    return frame


def read_data_file(fm: FileMapping, mapping_file: Path | None = None) -> pd.DataFrame:
    """The data file as text (CSV) or native values (Parquet), with provenance columns.

    ``_source_row`` is the 1-based data row; for CSV also ``_source_line`` (the line the row
    starts on, header counted) and ``_source_error`` for a line with too few/many fields.
    """
    mapping_file = mapping_file or fm.path
    if fm.format == "parquet":
        try:
            frame = pq.read_table(fm.path).to_pandas()
        except (pa.ArrowException, OSError) as exc:
            raise _parquet_error(fm.path, exc) from None
        frame[SOURCE_LINE] = None
        frame[SOURCE_ERROR] = None
    else:
        frame = _read_csv(fm, mapping_file)
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
    elif spec.format in EPOCH_UNITS:
        parsed = pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit=EPOCH_UNITS[spec.format],
                                errors="coerce", origin=pd.Timestamp(spec.origin) if spec.origin else "unix")
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
    data = read_data_file(fm, mapping_file)
    if fm.wide is not None:
        data = melt_wide(data, fm.wide)
    schema = ENTITIES[fm.entity]
    used = fm.source_columns()
    extra = [c for c in data.columns if c not in used and c not in META and c != SOURCE_ROW]
    if extra:  # schema drift that loses nothing we load: say so, then carry on
        log.info("%s: column(s) %s are not mapped by %s %s; ignored", fm.path, extra, mapping_file, fm.where)
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
    if fm.features:
        out["extra_features"] = pack_features(data, fm)
    if fm.timestamp.format == FIRST_SEEN:  # filled from the other files in MappingSource.build
        out[schema.time_column] = pd.Series(pd.NaT, index=data.index, dtype="datetime64[ns]")
        out[SOURCE_FILE], out[SOURCE_ROW] = str(fm.path), data[SOURCE_ROW]
        out[SOURCE_LINE], out[SOURCE_ERROR] = data[SOURCE_LINE], data[SOURCE_ERROR]
        return out, out.iloc[:0].assign(**{REASON: pd.Series(dtype=object)})
    raw_time = data[fm.timestamp.column]
    out[schema.time_column] = parse_times(raw_time, fm.timestamp)
    out[SOURCE_FILE] = str(fm.path)
    out[SOURCE_ROW] = data[SOURCE_ROW]
    out[SOURCE_LINE] = data[SOURCE_LINE]
    out[SOURCE_ERROR] = data[SOURCE_ERROR]
    if fm.partition is not None:
        # A daily drop: rows dated outside its day are loaded (and rejected) with that day.
        day = pd.Timestamp(fm.partition)
        times = out[schema.time_column]
        inside = (times >= day) & (times < day + pd.Timedelta(days=1))
        out[PARTITION_TIME] = times.where(inside, day)
    bad = out[schema.time_column].isna()
    fmt = fm.timestamp.format
    reasons = (f"{fm.timestamp.column}=" + raw_time[bad].astype("string").fillna("<empty>").map(repr)
               + f" could not be parsed as {fmt!r}" + (f" in {fm.timestamp.timezone}" if fm.timestamp.timezone else ""))
    structural = out.loc[bad, SOURCE_ERROR]
    reasons = reasons.where(structural.isna(), structural.astype("string") + "; " + reasons)
    bad_rows = out[bad].assign(**{REASON: reasons.astype(object)})
    return out[~bad], bad_rows


def melt_wide(data: pd.DataFrame, wide: WideSpec) -> pd.DataFrame:
    """One row per source row and per-day column: ``wide.value`` = the cell, ``wide.day`` = its day.

    The day is ISO text (``YYYY-MM-DD``), or the column name itself when it is not a date, so
    the usual timestamp parsing quarantines it quoting the name. Rows keep their provenance
    (data row and line of the wide row), ordered by source row, then column order.
    """
    columns = wide.matches([str(c) for c in data.columns])
    if not columns:
        return data.assign(**{wide.value: None, wide.day: None}).iloc[0:0]
    ids = [c for c in data.columns if c not in set(columns)]
    days = {c: _wide_day(c, wide) for c in columns}
    order = {c: i for i, c in enumerate(columns)}
    long = data.melt(id_vars=ids, value_vars=columns, var_name="_wide_column", value_name=wide.value)
    long[wide.day] = long["_wide_column"].map(days)
    long["_wide_order"] = long["_wide_column"].map(order)
    long = long.sort_values([SOURCE_ROW, "_wide_order"], kind="stable")
    return long.drop(columns=["_wide_column", "_wide_order"]).reset_index(drop=True)


def _wide_day(column: str, wide: WideSpec) -> str:
    match = re.fullmatch(wide.pattern, column)
    if wide.date_format is None and match is not None and wide.start_date is not None:
        return (wide.start_date + timedelta(days=int(match.group(1)) - wide.start_number)).isoformat()
    try:
        return pd.to_datetime(column, format=wide.date_format).date().isoformat()
    except (ValueError, TypeError):
        return column


def pack_features(data: pd.DataFrame, fm: FileMapping) -> pd.Series:
    """The declared feature columns as one JSON object per row, values as received.

    Typed by the loader (``validate.type_extra_features``), so a bad value is quarantined
    with the row instead of vanishing here.
    """
    names = list(fm.features)
    frame = pd.DataFrame({name: data[spec.column] for name, spec in fm.features.items()}, index=data.index)
    frame = frame.astype(object).where(frame.notna(), None)
    rows = frame.itertuples(index=False, name=None)
    return pd.Series([json.dumps(dict(zip(names, (_plain(v) for v in values), strict=True)), sort_keys=True)
                      for values in rows], index=data.index, dtype=object)


def _plain(value: object) -> object:
    """JSON-able scalar: numpy numbers as Python numbers, anything else as text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _is_bool(entity: str, column: str) -> bool:
    try:
        return ENTITIES[entity].column(column).type == "bool"
    except KeyError:
        return False
