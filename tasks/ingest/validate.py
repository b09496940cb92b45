"""Row-level validation of one partition of one canonical entity.

Whole-partition problems (a required column missing, i.e. schema drift) raise
``SchemaError`` naming the file and column. Row problems never raise: each bad
row is returned with the reason, so the loader can quarantine it and keep
``rows in = accepted + quarantined``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from tasks.ingest.schema import EVENT_TYPES, Entity

MAX_ABS_QUANTITY = 100_000
LINEAGE_COLUMNS = ("_source_file", "_source_row")
_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}


class SchemaError(ValueError):
    """The partition cannot be loaded at all (e.g. a required column is missing)."""


@dataclass
class ValidationResult:
    accepted: pd.DataFrame
    rejected: pd.DataFrame  # original columns + _reason

    @property
    def rows_in(self) -> int:
        return len(self.accepted) + len(self.rejected)


def _files(frame: pd.DataFrame) -> str:
    if "_source_file" in frame.columns and not frame.empty:
        return ", ".join(sorted({str(f) for f in frame["_source_file"].dropna().unique()})[:3])
    return "<unknown file>"


def check_columns(entity: Entity, frame: pd.DataFrame) -> None:
    """Fail the whole partition when required columns are missing."""
    missing = [c for c in entity.required if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{entity.name}: file {_files(frame)} lacks required column(s) {missing}; "
            f"columns present: {sorted(c for c in frame.columns if not c.startswith('_'))}"
        )


def _coerce(series: pd.Series, type_: str) -> pd.Series:
    """Convert to the canonical type; unparseable values become NA (flagged by the caller)."""
    if type_ == "string":
        return series.map(lambda v: None if pd.isna(v) else str(v)).astype(object)
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


def _add_reason(reasons: pd.Series, mask: pd.Series, text: str) -> None:
    mask = mask.fillna(False).astype(bool)
    if mask.any():
        reasons[mask] = reasons[mask].map(lambda r: text if not r else f"{r}; {text}")


def validate_partition(
    entity: Entity,
    frame: pd.DataFrame,
    window_start: datetime,
    window_end: datetime,
) -> ValidationResult:
    """Type, check and de-duplicate one partition; return accepted and rejected rows."""
    check_columns(entity, frame)
    frame = frame.reset_index(drop=True)
    reasons = pd.Series([""] * len(frame), index=frame.index, dtype=object)
    typed = pd.DataFrame(index=frame.index)

    for col in entity.columns:
        raw = frame[col.name] if col.name in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        coerced = _coerce(raw, col.type)
        raw_present = raw.notna() & (raw.astype(str).str.strip() != "")
        _add_reason(reasons, raw_present & coerced.isna(), f"{col.name}: cannot parse as {col.type}")
        if not col.nullable:
            _add_reason(reasons, ~raw_present, f"{col.name}: required value is missing")
        typed[col.name] = coerced

    _domain_checks(entity, typed, reasons)

    t = typed[entity.time_column]
    t_cmp = pd.to_datetime(t) if entity.column(entity.time_column).type == "date" else t
    _add_reason(reasons, t_cmp.notna() & (t_cmp >= pd.Timestamp(window_end)),
                f"{entity.time_column}: after the partition window (future timestamp)")
    _add_reason(reasons, t_cmp.notna() & (t_cmp < pd.Timestamp(window_start)),
                f"{entity.time_column}: before the partition window")

    # Duplicates: the first occurrence of a key wins; later copies are quarantined.
    clean = reasons == ""
    key_frame = typed.loc[clean, list(entity.key)].astype(str)
    dup_index = key_frame.index[key_frame.duplicated(keep="first")]
    _add_reason(reasons, pd.Series(typed.index.isin(dup_index), index=typed.index),
                f"duplicate key {list(entity.key)}")

    bad = reasons != ""
    for col in LINEAGE_COLUMNS:
        if col in frame.columns:
            typed[col] = frame[col]
    rejected = frame.loc[bad].copy()
    rejected["_reason"] = reasons[bad]
    return ValidationResult(accepted=typed.loc[~bad].reset_index(drop=True), rejected=rejected)


def _domain_checks(entity: Entity, typed: pd.DataFrame, reasons: pd.Series) -> None:
    name = entity.name
    if name == "events":
        _add_reason(reasons, typed["event_type"].notna() & ~typed["event_type"].isin(EVENT_TYPES),
                    f"event_type: not one of {list(EVENT_TYPES)}")
        needs_product = typed["event_type"].isin(("view", "cart", "purchase"))
        _add_reason(reasons, needs_product & typed["product_id"].isna(),
                    "product_id: required for view/cart/purchase events")
    for price_col in ("price", "unit_price", "amount"):
        if price_col in typed.columns and price_col in entity.column_names:
            _add_reason(reasons, typed[price_col].notna() & (typed[price_col] <= 0),
                        f"{price_col}: must be > 0")
    if name == "order_lines":
        q = typed["quantity"].astype("Float64")
        cancel = typed["is_cancellation"].fillna(False).astype(bool)
        _add_reason(reasons, q.notna() & (q == 0), "quantity: must not be 0")
        _add_reason(reasons, q.notna() & (q.abs() > MAX_ABS_QUANTITY),
                    f"quantity: absolute value above {MAX_ABS_QUANTITY}")
        _add_reason(reasons, q.notna() & (q < 0) & ~cancel, "quantity: negative on a non-cancellation line")
    if name == "inventory":
        _add_reason(reasons, typed["stock_quantity"].astype("Float64") < 0, "stock_quantity: must be >= 0")
    if name == "daily_sales":
        _add_reason(reasons, typed["units"] < 0, "units: must be >= 0")
