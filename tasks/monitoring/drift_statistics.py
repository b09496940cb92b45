"""Drift statistics of one column against a stored reference profile: PSI, Jensen-Shannon,
null share and unseen-category share.

Why scipy and not Evidently: ``evidently`` 0.7.23 installs against ``constraints.txt``
without moving a pinned version (checked with ``pip install --dry-run evidently -c
constraints.txt``; it adds ~20 packages, among them a web server (litestar), nltk, plotly
and a usage-telemetry client). But its drift tests (``psi``, ``jensenshannon``) take the
*raw* reference column and re-derive the bins on every call from reference + current
together (``get_binned_data``). ecomflow stores the reference at training time as a binned
profile (``reference_profile``: fixed quantile bin edges and category frequencies, no raw
training rows copied into the monitoring schema), so that every day is compared on the same
bins and the values are comparable over time. On fixed bins both statistics are one line:
PSI is ``sum((cur - ref) * ln(cur / ref))`` (Evidently's own formula, with the same
small-share floor for empty bins) and Jensen-Shannon is ``scipy.spatial.distance.jensenshannon``.
Evidently remains a candidate for the HTML reports (issue 11, second part), fed from these tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

# An empty bin gets this share (before renormalising) so PSI stays finite; Evidently's
# default floor for a bin with no reference rows is of the same order.
EMPTY_BIN_SHARE = 1e-4


@dataclass(frozen=True)
class ColumnDrift:
    psi: float
    js_distance: float
    null_share: float
    unseen_share: float | None
    n_rows: int


def _smoothed(shares: np.ndarray) -> np.ndarray:
    p = np.where(shares > 0, shares, EMPTY_BIN_SHARE).astype(float)
    return p / p.sum()


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins.

    Rule of thumb: < 0.1 stable, 0.1-0.2 moderate, > 0.2 a significant shift.
    """
    ref, cur = _smoothed(np.asarray(reference, float)), _smoothed(np.asarray(current, float))
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def js_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2: 0 same distribution, 1 disjoint)."""
    ref, cur = np.asarray(reference, float), np.asarray(current, float)
    if ref.sum() <= 0 or cur.sum() <= 0:
        return float("nan")
    return float(jensenshannon(ref, cur, base=2))


def numeric_shares(values: pd.Series, edges: np.ndarray) -> np.ndarray:
    """Share of the non-null ``values`` in each bin ``[edges[i], edges[i+1])``; the outer
    edges are -inf/+inf in a stored profile, so every value lands in a bin."""
    x = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if len(x) == 0:
        return np.zeros(len(edges) - 1)
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    return np.bincount(idx, minlength=len(edges) - 1) / len(x)


def column_drift_numeric(values: pd.Series, edges: np.ndarray, ref_shares: np.ndarray) -> ColumnDrift:
    n = len(values)
    null_share = float(values.isna().mean()) if n else float("nan")
    cur = numeric_shares(values, edges)
    if cur.sum() == 0:
        return ColumnDrift(float("nan"), float("nan"), null_share, None, n)
    return ColumnDrift(psi(ref_shares, cur), js_distance(ref_shares, cur), null_share, None, n)


def column_drift_categorical(values: pd.Series, categories: list[str], ref_shares: np.ndarray) -> ColumnDrift:
    """Shares over the reference categories plus one 'unseen' bin (reference share 0)."""
    n = len(values)
    null_share = float(values.isna().mean()) if n else float("nan")
    present = values.dropna().astype(str)
    if present.empty:
        return ColumnDrift(float("nan"), float("nan"), null_share, float("nan"), n)
    counts = present.value_counts()
    cur = np.array([counts.get(c, 0) for c in categories], dtype=float)
    unseen = float(len(present) - cur.sum())
    cur = np.append(cur, unseen) / len(present)
    ref = np.append(np.asarray(ref_shares, float), 0.0)
    unseen_share = unseen / len(present)
    return ColumnDrift(psi(ref, cur), js_distance(ref, cur), null_share, unseen_share, n)


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
