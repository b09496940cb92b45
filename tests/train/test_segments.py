"""User segments: k found on planted clusters, deterministic ids, point-in-time join, warehouse partition."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from tasks.train import segments as sg
from tasks.warehouse import read_frame, replace_partition

D = date(2024, 3, 1)


def _profiles(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Three planted user types: lapsed browsers, active buyers, brand-new sign-ups."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, n)
    return pd.DataFrame({
        "user_id": [f"u{i:04d}" for i in range(n)],
        "recency_days": np.where(kind == 1, rng.uniform(1, 10, n), np.nan),
        "frequency_90d": np.where(kind == 1, rng.integers(3, 8, n), 0),
        "monetary_90d": np.where(kind == 1, rng.uniform(100, 300, n), 0.0),
        "avg_order_value": np.where(kind == 1, rng.uniform(30, 60, n), np.nan),
        "n_events_30d": np.where(kind == 0, rng.integers(1, 4, n), rng.integers(20, 40, n)),
        "n_sessions_30d": np.where(kind == 0, 1, rng.integers(4, 8, n)),
        "n_purchases_30d": np.where(kind == 1, rng.integers(2, 6, n), 0),
        "days_since_signup": np.where(kind == 2, rng.uniform(0, 3, n), rng.uniform(200, 900, n)),
        "kind": kind,
    })


def test_silhouette_finds_the_planted_types_and_is_deterministic() -> None:
    profile = _profiles()
    a = sg.fit_segments(profile, seed=7)
    assert a.k == 3
    merged = a.assignments.merge(profile[["user_id", "kind"]], on="user_id")
    assert merged.groupby("kind")["segment"].nunique().eq(1).all()  # each type is one segment
    b = sg.fit_segments(profile.sample(frac=1.0, random_state=1), seed=7)  # row order must not matter
    pd.testing.assert_frame_equal(a.assignments, b.assignments)
    sizes = a.assignments["segment"].value_counts().sort_index()
    assert sizes.is_monotonic_decreasing  # ids ordered by cluster size


def test_degenerate_partition_is_one_segment() -> None:
    profile = _profiles(5).assign(**{c: 0 for c in sg.FEATURES})
    result = sg.fit_segments(profile)
    assert result.k == 1
    assert set(result.assignments["segment"]) == {0}


def test_build_writes_one_partition_and_reruns_replace(isolated_home) -> None:
    profile = _profiles(120).drop(columns="kind")
    for day in (D, date(2024, 3, 2)):
        replace_partition(sg.PROFILE_TABLE, profile.assign(as_of_date=day, as_of_hour=None),
                          {"as_of_date": day, "as_of_hour": None}, column_types={"as_of_hour": "TIMESTAMP"})
    assert sg.build_user_segments(D, "run-1") == 120
    assert sg.build_user_segments(D, "run-1") == 120
    out = read_frame(f"SELECT * FROM {sg.SEGMENT_TABLE} ORDER BY user_id")
    assert len(out) == 120 and set(out["as_of_date"].astype(str)) == {"2024-03-01"}
    assert list(out.columns) == list(sg.COLUMN_TYPES)


def test_attach_segments_is_point_in_time() -> None:
    segs = pd.DataFrame({"user_id": ["a", "a", "b"], "segment": [1, 2, 0],
                         "as_of_date": [date(2024, 3, 1), date(2024, 3, 3), date(2024, 3, 5)]})
    rows = pd.DataFrame({"user_id": ["a", "a", "a", "b", None],
                         "at": [datetime(2024, 2, 29, 23), datetime(2024, 3, 2, 10), datetime(2024, 3, 3, 0),
                                datetime(2024, 3, 4), datetime(2024, 3, 4)]})
    assert sg.attach_segments(rows, "at", segs).tolist() == [-1, 1, 2, -1, -1]
