"""Drift against the stored training reference: planted shifts are found, unshifted data is not."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tasks.monitoring.drift import drift_rows, feature_drift, prediction_drift
from tasks.monitoring.reference_profile import (
    load_reference_profile,
    profile_frame,
    store_reference_profile,
    store_training_reference,
)
from tasks.warehouse import read_frame, replace_partition
from tests.monitoring.planting import D, at

TRAINED = date(2026, 2, 20)
FEATURES = "features.session_features"


def _frame(n: int, seed: int, shift: float = 0.0, new_device_share: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    device = rng.choice(["mobile", "desktop", "tablet"], size=n, p=[0.5, 0.4, 0.1]).astype(object)
    device[rng.random(n) < new_device_share] = "smart_tv"  # a category training never saw
    return pd.DataFrame({"session_id": [f"s{i}" for i in range(n)], "n_events": rng.poisson(8, n),
                         "duration_s": rng.normal(300, 60, n) + shift * 60, "device": device,
                         "has_purchase": rng.random(n) < 0.2})


def _reference(frame: pd.DataFrame) -> dict:
    store_reference_profile("m", "v", frame, kind="input", source_table="t", reference_as_of_date=TRAINED)
    return load_reference_profile("m", "v", "input")


def test_profile_skips_ids_and_labels() -> None:
    profile = profile_frame(_frame(200, 1))
    assert set(profile["column_name"]) == {"n_events", "duration_s", "device"}
    for _, part in profile.groupby("column_name"):
        assert part["share"].sum() == pytest.approx(1.0)


def test_shift_gives_high_psi_and_same_distribution_low(isolated_home) -> None:  # noqa: ANN001
    reference = _reference(_frame(5000, 1))
    same = {r["column_name"]: r for r in drift_rows(_frame(5000, 2), reference)[0]}
    shifted = {r["column_name"]: r for r in drift_rows(_frame(5000, 3, shift=1.0, new_device_share=0.25),
                                                        reference)[0]}
    assert same["duration_s"]["psi"] < 0.05 and same["device"]["psi"] < 0.05
    assert shifted["duration_s"]["psi"] > 0.2
    assert shifted["duration_s"]["js_distance"] > 3 * same["duration_s"]["js_distance"]
    assert shifted["n_events"]["psi"] < 0.05  # a column that did not move stays low
    assert same["device"]["unseen_share"] == 0
    assert shifted["device"]["unseen_share"] == pytest.approx(0.25, abs=0.02)
    assert shifted["device"]["psi"] > 0.2


def test_null_share_is_reported(isolated_home) -> None:  # noqa: ANN001
    reference = _reference(_frame(1000, 1))
    current = _frame(1000, 2)
    current.loc[current.index[:300], "duration_s"] = np.nan
    row = {r["column_name"]: r for r in drift_rows(current, reference)[0]}["duration_s"]
    assert row["null_share"] == pytest.approx(0.3) and row["reference_null_share"] == 0


def _plant_features(as_of: date, frame: pd.DataFrame) -> None:
    replace_partition(FEATURES, frame.assign(as_of_date=as_of, as_of_hour=None),
                      {"as_of_date": as_of, "as_of_hour": None}, column_types={"as_of_hour": "TIMESTAMP"})


def _plant_intent(day: date, p: np.ndarray, version: str) -> None:
    n = len(p)
    rows = pd.DataFrame({"session_id": [f"s{i}" for i in range(n)], "user_id": "u", "p_purchase": p,
                         "intent": np.where(p >= 0.5, "buy", "browse"), "threshold": 0.5, "as_of_date": day,
                         "as_of_hour": at(day, 9), "model_version": version, "run_id": "t", "scored_at": at(day, 10)})
    replace_partition("serving.session_intent", rows, {"as_of_date": day})


def test_feature_and_prediction_drift_tables(isolated_home) -> None:  # noqa: ANN001
    _plant_features(TRAINED, _frame(3000, 1))
    assert store_training_reference("session_intent", ["si-v1"], TRAINED) > 0  # the recipe's hook
    _plant_features(D + timedelta(days=1), _frame(3000, 2, shift=1.0))  # the day's inputs moved
    rng = np.random.default_rng(0)
    _plant_intent(D - timedelta(days=5), rng.beta(2, 8, 2000), "si-v1")  # its first served day: the reference
    _plant_intent(D, rng.beta(8, 2, 2000), "si-v1")  # the day's scores moved up
    results = feature_drift(D)
    assert not results["session_intent"].skipped
    rows = read_frame("SELECT * FROM monitoring.feature_drift WHERE dt = :d AND model = 'session_intent'", {"d": D})
    psi = dict(zip(rows["column_name"], rows["psi"], strict=True))
    assert psi["duration_s"] > 0.2 and psi["n_events"] < 0.05
    assert set(rows["model_version"]) == {"si-v1"} and set(rows["source_table"]) == {FEATURES}
    # models with nothing served that day are skipped with the reason, not written
    assert any("no output of recommender served" in r for r in results["recommender"].skipped)
    prediction_drift(D)
    out = read_frame("SELECT * FROM monitoring.prediction_drift WHERE dt = :d", {"d": D})
    out_psi = dict(zip(out["column_name"], out["psi"], strict=True))
    assert out_psi["p_purchase"] > 0.2 and out_psi["intent"] > 0.2
    prediction_drift(D - timedelta(days=5))  # the first served day against itself: no drift
    first = read_frame("SELECT psi FROM monitoring.prediction_drift WHERE dt = :d", {"d": D - timedelta(days=5)})
    assert (first["psi"] < 1e-9).all() and len(first) == 2


def test_version_without_reference_is_skipped(isolated_home) -> None:  # noqa: ANN001
    _plant_features(D + timedelta(days=1), _frame(100, 2))
    _plant_intent(D, np.full(10, 0.3), "si-old")
    result = feature_drift(D)["session_intent"]
    assert any("no input reference stored for si-old" in r for r in result.skipped)
    assert read_frame("SELECT COUNT(*) AS n FROM monitoring.feature_drift")["n"].iloc[0] == 0


def test_training_reference_never_fails_training(isolated_home) -> None:  # noqa: ANN001
    assert store_training_reference("session_intent", ["v"], TRAINED) == 0  # no feature table at all
    assert store_training_reference("no_such_model", ["v"], TRAINED) == 0
