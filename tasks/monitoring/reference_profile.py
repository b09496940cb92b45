"""The training-time reference of a model's inputs and outputs, stored as a binned profile.

Drift is only meaningful against what the model learned from. The profile is computed when a
version is trained (``store_training_reference``, called from ``tasks/train/recipe.py``) and
kept in ``monitoring.reference_profiles``, one partition per (model, version, kind):

- numeric columns: decile bin edges of the reference (outer edges -inf/+inf, so a later value
  outside the training range still lands in a bin) and the share of reference values per bin;
- categorical columns (text, booleans): the share of every category (at most
  ``MAX_CATEGORIES``; a column with more, e.g. a free-text or id-like column, is not profiled);
- per column the null share and the number of rows.

Fixed bins (not re-derived per day) keep PSI values comparable from one day to the next, and
no raw training rows are copied into the monitoring schema.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from tasks.contracts import operations_schema
from tasks.monitoring.model_io import NOT_PROFILED
from tasks.monitoring.tables import REFERENCE_PROFILES, write_partition
from tasks.warehouse import read_frame, table_exists

log = logging.getLogger(__name__)

N_BINS = 10
MAX_CATEGORIES = 100
KINDS = operations_schema.PROFILE_KINDS  # input | output


@dataclass(frozen=True)
class ColumnReference:
    column: str
    kind: str  # numeric | categorical
    edges: np.ndarray | None  # numeric: bin edges (len = bins + 1)
    categories: list[str]  # categorical: the reference categories
    shares: np.ndarray
    null_share: float
    n_rows: int


def column_kind(series: pd.Series) -> str | None:
    """``numeric``, ``categorical`` or None (not profiled: dates, ids, free text)."""
    name = str(series.name)
    if name in NOT_PROFILED or name == "id" or name.endswith("_id"):
        return None
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return None
    present = series.dropna()
    if present.empty:
        return None
    first = present.iloc[0]
    if isinstance(first, bool | np.bool_):
        return "categorical"
    if isinstance(first, int | float | np.number):
        return "numeric"
    if not isinstance(first, str):
        return None  # dates, timestamps, lists
    return "categorical" if present.astype(str).nunique() <= MAX_CATEGORIES else None


def profile_frame(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The profile rows (``monitoring.reference_profiles`` columns, without the key columns) of
    ``frame``: numeric decile bins and category shares per profiled column."""
    rows: list[dict] = []
    n = len(frame)
    for col in columns or list(frame.columns):
        if col not in frame.columns:
            raise KeyError(f"reference profile: the frame has no column {col!r} (has {list(frame.columns)})")
        series = frame[col]
        kind = column_kind(series)
        if kind is None:
            continue
        null_share = float(series.isna().mean()) if n else float("nan")
        base = {"column_name": col, "column_kind": kind, "null_share": null_share, "n_rows": n}
        if kind == "numeric":
            x = pd.to_numeric(series, errors="coerce").dropna().to_numpy(dtype=float)
            if len(x) == 0:
                continue
            inner = np.unique(np.quantile(x, np.linspace(0, 1, N_BINS + 1)[1:-1]))
            edges = np.concatenate([[-np.inf], inner, [np.inf]])
            idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
            shares = np.bincount(idx, minlength=len(edges) - 1) / len(x)
            rows += [{**base, "bin": i, "lower": edges[i], "upper": edges[i + 1], "category": None,
                      "share": float(shares[i])} for i in range(len(edges) - 1)]
        else:
            counts = series.dropna().astype(str).value_counts(normalize=True).sort_index()
            rows += [{**base, "bin": i, "lower": None, "upper": None, "category": cat, "share": float(share)}
                     for i, (cat, share) in enumerate(counts.items())]
    return pd.DataFrame(rows)


def store_reference_profile(model: str, model_version: str, frame: pd.DataFrame, *, kind: str,
                            source_table: str, reference_as_of_date: date | None,
                            columns: list[str] | None = None) -> int:
    """Profile ``frame`` and replace the (model, version, kind) reference; rows written."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    profile = profile_frame(frame, columns)
    profile = profile.assign(model=model, model_version=model_version, profile_kind=kind,
                             source_table=source_table, reference_as_of_date=reference_as_of_date)
    return write_partition(REFERENCE_PROFILES, profile,
                           {"model": model, "model_version": model_version, "profile_kind": kind})


def load_reference_profile(model: str, model_version: str, kind: str) -> dict[str, ColumnReference]:
    """The stored reference per column; empty when none was stored for this version."""
    if not table_exists(REFERENCE_PROFILES):
        return {}
    rows = read_frame(
        "SELECT * FROM monitoring.reference_profiles WHERE model = :m AND model_version = :v "
        "AND profile_kind = :k ORDER BY column_name, bin", {"m": model, "v": model_version, "k": kind})
    out: dict[str, ColumnReference] = {}
    for col, part in rows.groupby("column_name", sort=True):
        numeric = part["column_kind"].iloc[0] == "numeric"
        edges = None
        if numeric:
            edges = np.append(part["lower"].to_numpy(dtype=float), float(part["upper"].iloc[-1]))
        out[str(col)] = ColumnReference(
            column=str(col), kind=str(part["column_kind"].iloc[0]), edges=edges,
            categories=[] if numeric else [str(c) for c in part["category"]],
            shares=part["share"].to_numpy(dtype=float), null_share=float(part["null_share"].iloc[0]),
            n_rows=int(part["n_rows"].iloc[0]))
    return out


def reference_source(model: str, model_version: str, kind: str) -> str | None:
    """The table the stored reference was profiled from (None without a reference)."""
    if not table_exists(REFERENCE_PROFILES):
        return None
    rows = read_frame("SELECT MIN(source_table) AS t FROM monitoring.reference_profiles WHERE model = :m "
                      "AND model_version = :v AND profile_kind = :k", {"m": model, "v": model_version, "k": kind})
    return None if rows.empty else rows["t"].iloc[0]


def store_training_reference(model: str, versions: list[str], as_of_date: date) -> int:
    """The recipe's hook: profile ``model``'s input feature table as the version(s) trained on it
    (the daily partition valid at ``as_of_date``) and store it as each version's input reference.

    Never fails training: a model must not be held back because its monitoring reference could
    not be written (the drift task then skips that version with the reason). Returns rows written.
    """
    from tasks.monitoring.model_io import input_table
    from tasks.train.data import read_daily_features

    try:
        table = input_table(model)
        frame, found = read_daily_features(table, as_of_date)
        if frame.empty:
            log.warning("%s: %s has no partition at or before %s; no input reference stored for %s",
                        model, table, as_of_date, versions)
            return 0
        written = 0
        for version in versions:
            written += store_reference_profile(model, version, frame, kind="input", source_table=table,
                                               reference_as_of_date=found)
        log.info("%s: stored the input reference of %s from %s (as_of_date=%s, %d rows)",
                 model, versions, table, found, len(frame))
        return written
    except Exception:  # noqa: BLE001 - see docstring: monitoring must not fail a training run
        log.exception("%s: could not store the training reference of %s", model, versions)
        return 0
