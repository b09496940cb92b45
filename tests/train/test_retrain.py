"""Retraining never hurts serving: a failed or worse challenger leaves the champion and the served
rows untouched; a promoted one is re-scored; a rollback re-activates and re-scores the previous one.

Real risk training (torch) on planted-signal frames, real scoring into serving.risk_labels.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest

from tasks.partitions import Partition
from tasks.score.pipeline import run_scorer
from tasks.train import registry
from tasks.train.leakage import LeakageError
from tasks.train.retrain import retrain, rollback_and_rescore
from tasks.warehouse import read_frame, replace_partition
from tasks.warehouse.fingerprint import fingerprint_table
from tests.fixtures import synthetic_frames

TYPES = {"as_of_hour": "TIMESTAMP", "feature_cutoff_at": "TIMESTAMP"}
D1, D2, D3, D4 = date(2024, 3, 1), date(2024, 3, 8), date(2024, 3, 15), date(2024, 3, 22)
HOUR = datetime(2024, 3, 22, 10)


def _daily(as_of: date, seed: int, **kwargs) -> None:
    frame = synthetic_frames.transaction_velocity(as_of, n=2500, seed=seed, **kwargs)
    replace_partition("features.transaction_velocity", frame, {"as_of_date": as_of, "as_of_hour": None},
                      column_types=TYPES)


def _served() -> tuple[set[str], str]:
    rows = read_frame("SELECT model_version FROM serving.risk_labels")
    return set(rows["model_version"]), fingerprint_table("serving.risk_labels").digest


def test_failed_or_worse_training_never_replaces_the_serving_model(isolated_home, monkeypatch) -> None:
    _daily(D1, seed=11)
    first = retrain("risk", D1, "retrain-1")
    v1 = first["champion_after"]
    assert first["status"] == "champion" and v1
    hourly = synthetic_frames.transaction_velocity(HOUR.date(), n=80, seed=5, as_of_hour=HOUR, labelled=False)
    replace_partition("features.transaction_velocity", hourly, {"as_of_hour": HOUR}, column_types=TYPES)
    assert run_scorer("risk_labels", Partition(HOUR.date(), HOUR.hour), "hourly-1") == 80
    served = _served()
    assert served[0] == {v1}

    # 1. Training fails (a planted leak in its input): nothing changes.
    _daily(D2, seed=12)
    leaky = read_frame("SELECT * FROM features.transaction_velocity WHERE as_of_date = :d", {"d": D2})
    leaky.loc[0, "feature_cutoff_at"] = leaky.loc[0, "transaction_at"] + timedelta(seconds=1)
    replace_partition("features.transaction_velocity", leaky, {"as_of_date": D2, "as_of_hour": None},
                      column_types=TYPES)
    with pytest.raises(LeakageError):
        retrain("risk", D2, "retrain-2")
    assert registry.champion("risk").version == v1 and _served() == served

    # 2. A worse challenger (labels shuffled: no signal left) stays challenger; nothing re-scored.
    _daily(D3, seed=13)
    noise = read_frame("SELECT * FROM features.transaction_velocity WHERE as_of_date = :d", {"d": D3})
    noise["is_fraud"] = np.random.default_rng(0).permutation(noise["is_fraud"].to_numpy())
    replace_partition("features.transaction_velocity", noise, {"as_of_date": D3, "as_of_hour": None},
                      column_types=TYPES)
    worse = retrain("risk", D3, "retrain-3")
    assert worse["status"] == "challenger" and worse["rescored"] == {}
    assert registry.champion("risk").version == v1 and _served() == served
    decision = registry.decisions("risk").set_index("version").loc[worse["version"]]
    assert decision["decision"] == "kept_champion"

    # 3. A challenger that wins (margin lowered so any sane model wins) is promoted and re-scored.
    monkeypatch.setenv("ECOMFLOW_PROMOTION_MARGIN", "-1")
    from tests.conftest import _reset_settings

    _reset_settings()
    _daily(D4, seed=14)
    better = retrain("risk", D4, "retrain-4")
    v4 = better["champion_after"]
    assert better["status"] == "champion" and v4 != v1
    assert better["rescored"] == {"risk_labels": {"partition": "2024-03-22T10", "rows": 80, "served_before": v1}}
    assert _served()[0] == {v4}
    rescored = registry.decisions("risk").set_index("decided_by").loc["retrain:retrain-4"]
    assert rescored["decision"] == "rescored" and rescored["version"] == v4 and f"was {v1}" in rescored["reason"]

    # 4. Rollback re-activates v1 and re-scores the same partition with it: the rows are v1's again.
    rolled = rollback_and_rescore("risk", by="on-call", run_id="hourly-1")
    assert rolled["champion"] == v1
    assert _served() == served
