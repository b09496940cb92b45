"""serving.risk_labels from the calibrated model: policy actions, worded reasons, model_version on
every row, and a re-run that replaces the hour."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from tasks.score.risk_labels import score_risk
from tasks.train import risk
from tasks.train.common import load_artefact
from tasks.train.registry import champion
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures import synthetic_frames

D = date(2024, 3, 1)
HOUR = datetime(2024, 3, 1, 9)
TYPES = {"as_of_hour": "TIMESTAMP", "is_fraud": "BOOLEAN"}


def test_model_scoring_applies_the_policy(isolated_home) -> None:
    replace_partition(risk.FEATURE_TABLE, synthetic_frames.transaction_velocity(D, seed=9),
                      {"as_of_date": D, "as_of_hour": None}, column_types=TYPES)
    trained = risk.train(D, "train-1", risk.RiskConfig(epochs=15))
    assert trained.status == "champion"
    hourly = synthetic_frames.transaction_velocity(D, n=80, fraud_rate=0.3, seed=10, as_of_hour=HOUR)
    replace_partition(risk.FEATURE_TABLE, hourly, {"as_of_hour": HOUR}, column_types=TYPES)
    assert score_risk(HOUR, "run-1") == 80
    out = read_frame("SELECT * FROM serving.risk_labels ORDER BY transaction_id")
    assert set(out["model_version"]) == {trained.version}
    th = load_artefact(champion("risk").artefact_uri).preprocessing["thresholds"]
    expected = risk.label_for(out["risk_score"].to_numpy(), th["t_review"], th["t_block"])
    np.testing.assert_array_equal(out["label"].to_numpy(), expected)
    frame = hourly.sort_values("transaction_id").reset_index(drop=True)
    np.testing.assert_array_equal(out["action"].to_numpy(),
                                  risk.action_for(expected, risk.is_card_testing(frame)))
    blocked = out[out["label"] == "block"]
    assert len(blocked) > 0
    assert blocked["reasons"].str.contains(r"\(typical ").any()
    assert score_risk(HOUR, "run-1") == 80
    pd.testing.assert_frame_equal(out, read_frame("SELECT * FROM serving.risk_labels ORDER BY transaction_id"))
