"""Session intent: intent rule, planted non-linear signal vs logistic regression,
determinism, artefact round trip, warehouse recipe."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import torch

from tasks.train import registry, synthetic_frames
from tasks.train import session_intent as si
from tasks.train.common import Artefact, DataWindow, as_of_instant, load_artefact, save_artefact
from tasks.warehouse import replace_partition

D = date(2024, 3, 1)
CPU = torch.device("cpu")
CFG = si.SessionIntentConfig()


def test_intent_rule() -> None:
    intents = si.classify_intent(np.array([0.9, 0.2, 0.2, 0.5]), np.array([1, 3, 2, None]),
                                 buy_threshold=0.5, compare_min_products=3)
    assert intents.tolist() == ["buy", "compare", "browse", "buy"]


def test_mlp_beats_logistic_regression_on_nonlinear_signal() -> None:
    fitted = si.fit_and_evaluate(synthetic_frames.session_features(D, seed=0), CFG, CPU)
    assert fitted.metrics["n_holdout"] == fitted.baseline_metrics["n_holdout"] == 400
    assert fitted.metrics["roc_auc"] > fitted.baseline_metrics["roc_auc"] + 0.02
    assert 0 < fitted.metrics["pr_auc"] <= 1
    # The holdout is the latest 20 % of sessions by start time.
    train_max = synthetic_frames.session_features(D, seed=0)["session_start_at"].sort_values().iloc[-401]
    assert fitted.holdout["session_start_at"].min() > train_max


def test_training_is_deterministic_by_seed() -> None:
    frame = synthetic_frames.session_features(D, n=600, seed=1)
    cfg = si.SessionIntentConfig(epochs=5, min_rows=100)
    a, b = si.fit_and_evaluate(frame, cfg, CPU), si.fit_and_evaluate(frame, cfg, CPU)
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())
    assert a.metrics == b.metrics


def test_single_class_holdout_is_refused() -> None:
    frame = synthetic_frames.session_features(D, n=300, seed=1).assign(has_purchase=False)
    with pytest.raises(ValueError, match="single class"):
        si.fit_and_evaluate(frame, CFG, CPU)


def test_artefact_round_trip_identical_predictions(isolated_home) -> None:
    frame = synthetic_frames.session_features(D, n=600, seed=2)
    cfg = si.SessionIntentConfig(epochs=5)
    fitted = si.fit_and_evaluate(frame, cfg, CPU)
    art = Artefact(model="session_intent", version="si-test", config=cfg.to_dict(),
                   window=DataWindow(as_of_instant(D) - timedelta(days=28), as_of_instant(D)),
                   state_dict=fitted.model.state_dict(), preprocessing=fitted.spec.to_dict())
    loaded = load_artefact(save_artefact(art))
    assert loaded.preprocessing["features"][:2] == ["n_events", "n_views"]
    out = si.predict(loaded, fitted.holdout, CPU)
    direct = fitted.model(torch.as_tensor(fitted.spec.transform(fitted.holdout))).sigmoid().detach().numpy()
    np.testing.assert_array_equal(out["p_purchase"].to_numpy(), direct.astype(float))
    assert set(out["intent"]) <= set(si.INTENTS)


def test_train_recipe_from_warehouse(isolated_home) -> None:
    replace_partition(si.FEATURE_TABLE, synthetic_frames.session_features(D, n=800, seed=3),
                      {"as_of_date": D, "as_of_hour": None}, column_types={"as_of_hour": "TIMESTAMP"})
    cfg = si.SessionIntentConfig(epochs=10)
    result = si.train(D + timedelta(days=2), "run-1", cfg)  # uses the newest partition <= as_of_date
    assert result.status == "champion"
    assert result.window.end == as_of_instant(D)
    assert registry.champion("session_intent").metrics["roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    assert si.train(D - timedelta(days=1), "run-2", cfg).status == "skipped"  # nothing at/before then


def test_labelled_drops_unlabelled_rows() -> None:
    frame = pd.DataFrame({"has_purchase": [True, None, False]})
    assert len(si.labelled(frame)) == 2
