"""Row-level validation of one partition of one canonical entity.

Whole-partition problems (a required column missing, i.e. schema drift) raise
``SchemaError`` naming the file and column. Row problems never raise: each bad
row is returned with the reason, so the loader can quarantine it and keep
``rows in = accepted + quarantined``. Reasons quote the offending value (after
PII hashing) because "cannot parse as int" alone sends the reader hunting.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tasks.ingest.errors import SchemaError, did_you_mean
from tasks.ingest.schema import (
    IGNORED_REASON,
    IGNORED_VALUE_PREFIX,
    NO_EVENT_REASON,
    NOT_COUNTED,
    PRODUCT_EVENT_TYPES,
    REFERENCES,
    Entity,
)

__all__ = ["LINEAGE_COLUMNS", "SchemaError", "ValidationResult", "check_columns", "validate_partition"]

log = logging.getLogger(__name__)

MAX_ABS_QUANTITY = 100_000
# Provenance and source meta columns (``sources.base.META``): never typed, landed or loaded.
LINEAGE_COLUMNS = ("_source_file", "_source_row", "_source_line", "_source_error", "_partition_time")
_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}
_MAX_QUOTED = 60


@dataclass
class ValidationResult:
    accepted: pd.DataFrame
    rejected: pd.DataFrame  # original columns + _reason

    @property
    def rows_in(self) -> int:
        return len(self.accepted) + len(self.rejected)

    @property
    def not_counted(self) -> pd.Series:
        """Per rejected row: whether every reason it has says nothing about the quality of the
        load (a value the mapping ignores, a calendar date without an event). Such rows are
        quarantined like any other but not counted against the quarantine limit; a row with a
        real defect besides still counts."""
        if self.rejected.empty or "_reason" not in self.rejected.columns:
            return pd.Series(False, index=self.rejected.index, dtype=bool)
        parts = self.rejected["_reason"].astype(str).str.split("; ")
        return parts.map(lambda reasons: all(NOT_COUNTED in r for r in reasons)).astype(bool)

    @property
    def ignored(self) -> int:
        """How many rejected rows are ``not_counted``."""
        return int(self.not_counted.sum())


def _files(frame: pd.DataFrame) -> str:
    if "_source_file" in frame.columns and not frame.empty:
        return ", ".join(sorted({str(f) for f in frame["_source_file"].dropna().unique()})[:3])
    return "<unknown file>"


def check_columns(entity: Entity, frame: pd.DataFrame) -> None:
    """Fail the whole partition when required columns are missing."""
    missing = [c for c in entity.required if c not in frame.columns]
    if missing:
        present = sorted(c for c in frame.columns if not c.startswith("_"))
        raise SchemaError(
            f"{entity.name}: file {_files(frame)} lacks required column(s) {missing}"
            f"{did_you_mean(missing[0], present)}; columns present: {present}",
            file=_files(frame), column=missing[0],
        )


def _quote(value: object) -> str:
    text = repr(value if isinstance(value, str) else str(value))
    return text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 4] + "...'"


def _number(value: object) -> str:
    return f"{float(str(value)):g}"


def _where(frame: pd.DataFrame, index: object) -> str:
    """``line 4`` (text files) or ``row 3`` (files without lines) of one row, for messages."""
    line = frame.at[index, "_source_line"] if "_source_line" in frame.columns else None
    if line is not None and not pd.isna(line):
        return f"line {int(line)}"
    row = frame.at[index, "_source_row"] if "_source_row" in frame.columns else None
    return f"row {int(row)}" if row is not None and not pd.isna(row) else f"position {index}"


def as_text(series: pd.Series) -> pd.Series:
    """Every value as ``str(value)``, nulls as None (object dtype).

    The result equals ``series.map(lambda v: None if pd.isna(v) else str(v))``; vectorised
    for the common dtypes because a per-value Python call dominated loads of millions of rows.
    """
    null = series.isna()
    kind = series.dtype.kind
    if isinstance(series.dtype, pd.api.extensions.ExtensionDtype) and kind != "M":
        return series.map(lambda v: None if pd.isna(v) else str(v)).astype(object)
    if kind == "O" and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        out = series
    elif kind in "iufb":
        out = series.astype(str)
    elif kind == "M" and getattr(series.dtype, "tz", None) is None and not (
            series[~null].dt.microsecond.any() or series[~null].dt.nanosecond.any()):
        out = series.dt.strftime("%Y-%m-%d %H:%M:%S")  # str(Timestamp) of a whole second
    else:
        return series.map(lambda v: None if pd.isna(v) else str(v)).astype(object)
    return out.astype(object).where(~null, None)


def _coerce(series: pd.Series, type_: str) -> pd.Series:
    """Convert to the canonical type; unparseable values become NA (flagged by the caller)."""
    if type_ == "string":
        return as_text(series)
    if type_ in ("int", "float"):
        if series.dtype == bool:
            series = series.astype(int)
        numeric = pd.to_numeric(series, errors="coerce")
        numeric = numeric.where(np.isfinite(numeric.astype(float)), np.nan)
        if type_ == "int":
            whole = numeric.where(numeric.isna() | (numeric == np.floor(numeric)), np.nan)
            return whole.astype("Int64")
        return numeric.astype(float)
    if type_ == "bool":
        if series.dtype == bool:
            return series.astype("boolean")

        def to_bool(v: object) -> object:
            if pd.isna(v):
                return pd.NA
            if isinstance(v, bool | np.bool_):
                return bool(v)
            text = str(v).strip().lower()
            return True if text in _TRUE else False if text in _FALSE else pd.NA

        return series.map(to_bool).astype("boolean")
    if type_ == "timestamp":
        out = pd.to_datetime(series, errors="coerce", utc=True)
        return out.dt.tz_convert(None).astype("datetime64[us]")
    if type_ == "date":
        return pd.to_datetime(series, errors="coerce").dt.date
    raise ValueError(f"unknown canonical type {type_!r}")


Texts = str | Callable[[pd.Index], list[str]]


def _add_reason(reasons: pd.Series, mask: pd.Series, text: Texts) -> None:
    """Append ``text`` to the reasons of the rows in ``mask``.

    ``text`` is one text, or a function giving one text per flagged row: it is only
    called for the flagged rows, so a clean partition of a million rows pays nothing
    for messages that quote values.
    """
    mask = mask.fillna(False).astype(bool)
    if not mask.any():
        return
    index = reasons.index[mask]
    texts = [text] * len(index) if isinstance(text, str) else text(index)
    reasons[mask] = [t if not r else f"{r}; {t}" for r, t in zip(reasons[mask], texts, strict=True)]


def _with_values(prefix: str, values: pd.Series, suffix: str = "", show: Callable[[object], str] = _quote) -> Texts:
    """Per flagged row: ``prefix`` + the row's value + ``suffix``."""
    return lambda index: [f"{prefix}{show(v)}{suffix}" for v in values.loc[index]]


def validate_partition(
    entity: Entity,
    frame: pd.DataFrame,
    window_start: datetime | pd.Series,
    window_end: datetime | pd.Series,
    references: Mapping[str, Collection[str]] | None = None,
    extra_features: Mapping[str, str] | None = None,
) -> ValidationResult:
    """Type, check and de-duplicate one partition; return accepted and rejected rows.

    Many partitions at once (the bulk historical load): ``window_start``/``window_end`` are
    then Series aligned with ``frame``, each row's own partition window; every rule stays
    per partition (the window check, and duplicate keys only within a partition). Rejected
    rows keep their position in ``frame`` as index.

    ``references`` maps a column (see ``schema.REFERENCES``) to the ids it may hold; a
    value outside them rejects the row. Columns not given are not checked (the loader
    leaves out references whose entity the source does not have). ``extra_features`` is
    the source's declaration (name -> numeric|categorical) of the JSON in ``extra_features``:
    numeric values that do not parse quarantine the row, like any typed column.
    """
    check_columns(entity, frame)
    if not frame.index.equals(pd.RangeIndex(len(frame))):
        frame = frame.reset_index(drop=True)
    extra = sorted(c for c in frame.columns if c not in entity.column_names and not str(c).startswith("_"))
    if extra:
        log.info("%s: ignoring column(s) %s of %s: not in the canonical schema", entity.name, extra, _files(frame))
    reasons = pd.Series([""] * len(frame), index=frame.index, dtype=object)
    if "_source_error" in frame.columns:  # the source could not read the row cleanly (e.g. a cut line)
        structural = frame["_source_error"]
        _add_reason(reasons, structural.notna(), lambda index: [str(v) for v in structural.loc[index]])
    typed = pd.DataFrame(index=frame.index)

    for col in entity.columns:
        raw = frame[col.name] if col.name in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        coerced = _coerce(raw, col.type)
        raw_present = _present(raw)
        _add_reason(reasons, raw_present & coerced.isna(),
                    _with_values(f"{col.name}: cannot parse as {col.type} (got ", raw, ")"))
        if not col.nullable:
            no_event = entity.name == "calendar" and col.name == "event_name"
            _add_reason(reasons, ~raw_present, NO_EVENT_REASON if no_event else f"{col.name}: required value is missing")
        typed[col.name] = coerced

    _domain_checks(entity, typed, reasons)
    if "extra_features" in entity.column_names:
        typed["extra_features"] = type_extra_features(typed["extra_features"], extra_features or {}, reasons)
    for column, known in (references or {}).items():
        ref = REFERENCES[(entity.name, column)]
        values = typed[column]
        unknown = values.notna() & ~values.astype(str).isin(set(known))
        _add_reason(reasons, unknown, _with_values(
            f"{column}: unknown {ref[:-1]} ", values,
            f": not among the source's {ref} nor in raw.{ref}"))

    t = typed[entity.time_column]
    t_cmp = pd.to_datetime(t) if entity.column(entity.time_column).type == "date" else t
    per_row = isinstance(window_start, pd.Series)
    starts = _window_bound(window_start, frame.index)
    ends = _window_bound(window_end, frame.index)

    def outside(where: str) -> Texts:
        return lambda index: [f"{entity.time_column}: {t_cmp[i]} is {where} [{starts[i]}, {ends[i]})"
                              + (" (future timestamp)" if where.startswith("after") else "") for i in index]

    _add_reason(reasons, t_cmp.notna() & (t_cmp >= ends), outside("after the partition window"))
    _add_reason(reasons, t_cmp.notna() & (t_cmp < starts), outside("before the partition window"))

    # Duplicates (within a partition): the first occurrence of a key wins; later copies are quarantined.
    clean = reasons == ""
    key_cols = list(entity.key)
    # Typed values compare as their text did (one canonical type per column); the key is
    # only turned into text for the rows reported.
    scope = typed.loc[clean, key_cols]
    if per_row:
        scope = scope.assign(_partition=starts[clean].to_numpy())
    dup = scope.duplicated(keep="first")
    if dup.any():
        groups = list(scope.columns)
        first = scope.reset_index().groupby(groups, sort=False, dropna=False)["index"].transform("first")
        first.index = scope.index
        key_text = typed.loc[scope.index[dup], key_cols].astype(str)
        _add_reason(reasons, pd.Series(typed.index.isin(scope.index[dup]), index=typed.index), lambda index: [
            f"duplicate key ({', '.join(key_cols)}) = ({', '.join(_quote(v) for v in key_text.loc[i])}): "
            f"first seen on {_where(frame, first[i])}, which is kept" for i in index])

    bad = reasons != ""
    for col in LINEAGE_COLUMNS:
        if col in frame.columns:
            typed[col] = frame[col]
    rejected = frame.loc[bad].copy()
    rejected["_reason"] = reasons[bad]
    return ValidationResult(accepted=typed.loc[~bad].reset_index(drop=True), rejected=rejected)


def _present(raw: pd.Series) -> pd.Series:
    """Not null and, for text, not blank (a number or a time is never blank)."""
    present = raw.notna()
    if raw.dtype != object:
        return present
    if pd.api.types.infer_dtype(raw, skipna=True) == "string":  # trimmed in Arrow, not per value
        trimmed = pc.utf8_trim_whitespace(pa.array(raw.to_numpy(), type=pa.string(), from_pandas=True))
        blank = pc.fill_null(pc.equal(trimmed, ""), False).to_numpy(zero_copy_only=False)
        return present & ~pd.Series(blank, index=raw.index)
    return present & (raw.astype(str).str.strip() != "")


def _window_bound(bound: datetime | pd.Series, index: pd.Index) -> pd.Series:
    """A partition window bound per row (one bound for the whole frame, or each row's own)."""
    if isinstance(bound, pd.Series):
        return pd.Series(pd.to_datetime(bound).to_numpy(), index=index)
    return pd.Series(pd.Timestamp(bound), index=index)


def type_extra_features(raw: pd.Series, declared: Mapping[str, str], reasons: pd.Series) -> pd.Series:
    """Normalise the ``extra_features`` JSON text: numeric values as numbers, categorical as text.

    The source packs the declared columns as received (text for CSV); typing happens here,
    with the other columns, so a non-number in a numeric feature quarantines its row with
    the feature and the value quoted. Keys are sorted so equal rows give equal text.
    """
    out: list[str | None] = []
    for index, text in raw.items():
        if text is None or (not isinstance(text, str) and pd.isna(text)):
            out.append(None)
            continue
        try:
            values = json.loads(text) if isinstance(text, str) else dict(text)
        except (ValueError, TypeError):
            _add_reason(reasons, pd.Series(reasons.index == index, index=reasons.index),
                        f"extra_features: not a JSON object (got {_quote(text)})")
            out.append(None)
            continue
        typed_values: dict[str, object] = {}
        for key in sorted(values):
            value = values[key]
            if value is None or (isinstance(value, str) and not value.strip()):
                typed_values[key] = None
            elif declared.get(key) == "numeric":
                number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
                if pd.isna(number) or not np.isfinite(float(number)):
                    _add_reason(reasons, pd.Series(reasons.index == index, index=reasons.index),
                                f"extra_features.{key}: cannot parse as numeric (got {_quote(value)})")
                    typed_values[key] = None
                else:
                    typed_values[key] = float(number)
            else:
                typed_values[key] = str(value).strip()
        out.append(json.dumps(typed_values, sort_keys=True))
    return pd.Series(out, index=raw.index, dtype=object)


def _declared_value_rules(entity: Entity, typed: pd.DataFrame, reasons: pd.Series) -> None:
    """Allowed values and bounds declared on the columns (``schema.Column``): the raw GX suites
    are generated from the same declaration, so the gate can never disagree with the loader."""
    for col in entity.columns:
        values = typed[col.name]
        if col.allowed_values:
            ignored = values.notna() & values.astype(str).str.startswith(IGNORED_VALUE_PREFIX)
            _add_reason(reasons, ignored, _with_values(
                f"{col.name}: source value ", values.astype(str).str.removeprefix(IGNORED_VALUE_PREFIX),
                f" {IGNORED_REASON}"))
            _add_reason(reasons, values.notna() & ~values.isin(col.allowed_values) & ~ignored,
                        _with_values(f"{col.name}: ", values, f" is not one of {list(col.allowed_values)}"))
        if col.min_value is not None:
            number = values.astype("Float64")
            below = number <= col.min_value if col.strict_min else number < col.min_value
            _add_reason(reasons, number.notna() & below.fillna(False).astype(bool), _with_values(
                f"{col.name}: must be {'>' if col.strict_min else '>='} {col.min_value:g} (got ",
                number, ")", _number))


def _domain_checks(entity: Entity, typed: pd.DataFrame, reasons: pd.Series) -> None:
    name = entity.name
    _declared_value_rules(entity, typed, reasons)
    if name == "events":
        needs_product = typed["event_type"].isin(PRODUCT_EVENT_TYPES)
        _add_reason(reasons, needs_product & typed["product_id"].isna(),
                    f"product_id: required for {'/'.join(PRODUCT_EVENT_TYPES)} events")
    if name == "transactions":
        # A zero or negative payment is a signal, not bad data: zero-amount authorisations are
        # the classic card-testing pattern and negative amounts are reversals. Kept and flagged.
        amount = typed["amount"]
        typed["is_non_positive_amount"] = (amount <= 0).astype("boolean").where(amount.notna(), pd.NA)
    if name == "order_lines":
        q = typed["quantity"].astype("Float64")
        cancel = typed["is_cancellation"].fillna(False).astype(bool)
        _add_reason(reasons, q.notna() & (q == 0), "quantity: must not be 0")
        _add_reason(reasons, q.notna() & (q.abs() > MAX_ABS_QUANTITY),
                    _with_values(f"quantity: absolute value above {MAX_ABS_QUANTITY} (got ", q, ")", _number))
        _add_reason(reasons, q.notna() & (q < 0) & ~cancel,
                    _with_values("quantity: negative on a non-cancellation line (got ", q, ")", _number))
    # daily_sales.units may be negative: a day or week where returns exceed sales is net
    # negative demand (a forecaster's input), not a broken row.
