"""User segments: K-means on ``features.user_profile``, one daily partition at a time.

``build_user_segments(as_of_date, run_id)`` reads the ``user_profile`` partition of
exactly ``as_of_date`` (itself built from data strictly before the as_of instant,
so segments are point-in-time), clusters it and replaces the same partition of
``features.user_segments`` (user_id, segment, segment_k, as_of_date, as_of_hour,
run_id). Consumers join it on ``user_id`` and ``as_of_date`` = the day they predict
for (the recommender's cold-start fallback: newest partition <= as_of_date).

- Inputs: log1p of recency (null -> 2 x the 365-day order horizon: "never ordered"),
  90-day frequency/monetary, average order value, 30-day events/sessions/purchases,
  days since sign-up; standardised.
- k: 2..``max_k``, the one with the best silhouette (on at most 5,000 seeded rows);
  ties -> the smaller k.
- Deterministic by seed (``KMeans(random_state=seed, n_init=10)``); segment ids are
  renumbered by cluster size (0 = largest), ties by centroid, so the same profile
  partition always gives the same ids. Ids are *per partition*: segment 2 today and
  segment 2 next week need not be the same people-type; use them as a categorical
  feature of the same day, not as a long-lived label.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from tasks.contracts import operations_schema
from tasks.warehouse import read_frame, replace_partition, table_exists

log = logging.getLogger(__name__)

PROFILE_TABLE = "features.user_profile"
SEGMENT_TABLE = "features.user_segments"
FEATURES = ("recency_days", "frequency_90d", "monetary_90d", "avg_order_value", "n_events_30d",
            "n_sessions_30d", "n_purchases_30d", "days_since_signup")
NEVER_ORDERED_DAYS = 730.0
COLUMN_TYPES = operations_schema.sql_types(SEGMENT_TABLE)  # declared in tasks/contracts/operations_schema.py


@dataclass(frozen=True)
class SegmentResult:
    k: int
    silhouette: float
    assignments: pd.DataFrame  # user_id, segment


def profile_matrix(profile: pd.DataFrame) -> np.ndarray:
    """Standardised log features; missing recency = never ordered, other nulls = 0."""
    cols = []
    for c in FEATURES:
        v = pd.to_numeric(profile[c], errors="coerce").astype(float)
        v = v.fillna(NEVER_ORDERED_DAYS if c == "recency_days" else 0.0)
        cols.append(np.log1p(v.clip(lower=0).to_numpy()))
    x = np.stack(cols, axis=1)
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std < 1e-9, 1.0, std)


def fit_segments(profile: pd.DataFrame, seed: int = 42, max_k: int = 8, sample: int = 5000) -> SegmentResult:
    """Cluster one profile partition; k by silhouette (see module doc)."""
    profile = profile.sort_values("user_id", kind="stable").reset_index(drop=True)
    x = profile_matrix(profile)
    n_distinct = len(np.unique(x.round(9), axis=0))
    if len(profile) < 3 or n_distinct < 2:
        return SegmentResult(1, float("nan"), pd.DataFrame({"user_id": profile["user_id"], "segment": 0}))
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), size=min(sample, len(x)), replace=False)
    best: tuple[float, int, np.ndarray] | None = None
    for k in range(2, min(max_k, n_distinct - 1, len(x) - 1) + 1):
        km = KMeans(n_clusters=k, random_state=seed, n_init=10).fit(x)
        if len(np.unique(km.labels_[idx])) < 2:
            continue
        score = float(silhouette_score(x[idx], km.labels_[idx]))
        if best is None or score > best[0] + 1e-9:
            best = (score, k, km.labels_)
    if best is None:
        return SegmentResult(1, float("nan"), pd.DataFrame({"user_id": profile["user_id"], "segment": 0}))
    score, k, labels = best
    sizes = np.bincount(labels, minlength=k)
    centroids = np.stack([x[labels == c].mean(axis=0) for c in range(k)])
    order = sorted(range(k), key=lambda c: (-sizes[c], tuple(np.round(centroids[c], 9))))
    remap = np.empty(k, dtype=int)
    remap[order] = np.arange(k)
    return SegmentResult(k, score, pd.DataFrame({"user_id": profile["user_id"].to_numpy(),
                                                 "segment": remap[labels]}))


def build_user_segments(as_of_date: date, run_id: str, seed: int = 42) -> int:
    """Replace the ``as_of_date`` partition of features.user_segments; returns rows written.

    Reads only the profile partition of that exact date (no "newest earlier" fallback:
    a segment of day D must describe users as of D).
    """
    if not table_exists(PROFILE_TABLE):
        raise RuntimeError(f"{PROFILE_TABLE} does not exist: run the user_profile feature job first")
    profile = read_frame(f"SELECT * FROM {PROFILE_TABLE} WHERE as_of_date = :d AND as_of_hour IS NULL",
                         {"d": as_of_date})
    result = fit_segments(profile, seed=seed)
    out = result.assignments.assign(segment_k=result.k, as_of_date=as_of_date, as_of_hour=None, run_id=run_id)
    log.info("user_segments %s: %d users, k=%d (silhouette %.3f)", as_of_date, len(out), result.k,
             result.silhouette)
    return replace_partition(SEGMENT_TABLE, out[list(COLUMN_TYPES)], {"as_of_date": as_of_date, "as_of_hour": None},
                             column_types=COLUMN_TYPES)


def attach_segments(frame: pd.DataFrame, time_col: str, segments: pd.DataFrame) -> pd.Series:
    """Point-in-time segment of each row: the user's segment in the newest partition with
    ``as_of_date`` <= the row's date (a row at D 14:00 uses the partition of D, built from
    data before D 00:00). Rows without one get -1."""
    if segments.empty or frame.empty:
        return pd.Series(-1, index=frame.index, dtype="int64")
    left = frame[["user_id", time_col]].copy()
    left["_day"] = pd.to_datetime(left[time_col]).dt.normalize()
    left["_row"] = np.arange(len(left))
    right = segments[["user_id", "segment", "as_of_date"]].copy()
    right["_day"] = pd.to_datetime(right["as_of_date"])
    merged = pd.merge_asof(left.dropna(subset=["_day"]).sort_values("_day"), right.sort_values("_day"),
                           on="_day", by="user_id", direction="backward")
    out = pd.Series(-1, index=range(len(left)), dtype="int64")
    out.loc[merged["_row"].to_numpy()] = merged["segment"].fillna(-1).astype("int64").to_numpy()
    out.index = frame.index
    return out


SEGMENT_FEATURE = "user_segment"


def with_segments(frame: pd.DataFrame, time_col: str) -> pd.DataFrame:
    """``frame`` plus ``user_segment`` (text ``seg<k>``, ``none`` when unknown), point in time.

    Returns ``frame`` unchanged when features.user_segments does not exist, so a
    recipe trained without segments keeps working; a model trained with them asks
    for the column and gets ``none`` for users never segmented.
    """
    if frame.empty or not table_exists(SEGMENT_TABLE) or "user_id" not in frame:
        return frame
    times = pd.to_datetime(frame[time_col])
    segs = read_frame(f"SELECT user_id, segment, as_of_date FROM {SEGMENT_TABLE} "
                      "WHERE as_of_hour IS NULL AND as_of_date <= :e", {"e": times.max().date()})
    seg = attach_segments(frame, time_col, segs)
    return frame.assign(**{SEGMENT_FEATURE: np.where(seg >= 0, "seg" + seg.astype(str), "none")})


def ensure_segment_column(frame: pd.DataFrame, time_col: str, needed: bool) -> pd.DataFrame:
    """Scoring side: add ``user_segment`` when the model was trained with it."""
    if not needed or SEGMENT_FEATURE in frame:
        return frame
    out = with_segments(frame, time_col)
    return out if SEGMENT_FEATURE in out else out.assign(**{SEGMENT_FEATURE: "none"})
