"""int8 / bf16 scoring paths: real quantised modules, scores close to fp32, same ranking quality."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import torch

from tasks.score.precision import for_scoring
from tasks.train import risk
from tasks.train.metrics import pr_auc
from tests.fixtures import synthetic_frames


@pytest.fixture(scope="module")
def fitted() -> risk.Fitted:
    frame = synthetic_frames.transaction_velocity(date(2024, 3, 1), n=3000, seed=3)
    return risk.fit_and_evaluate(frame, risk.RiskConfig(epochs=15, members=2), torch.device("cpu"))


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_reduced_precision_scores_match_fp32(fitted: risk.Fitted, precision: str) -> None:
    cpu = torch.device("cpu")
    x = fitted.spec.transform(fitted.holdout)
    y = fitted.holdout["is_fraud"].astype(bool).to_numpy().astype(float)
    fp32 = risk.raw_proba(fitted.model, x, cpu)
    model, device = for_scoring(fitted.model, precision, cpu)
    reduced = risk.raw_proba(model, x, device)
    if precision == "int8":
        kinds = {type(m).__module__ for m in model.modules()}
        assert any("quantized" in k for k in kinds), kinds  # the Linear layers really are int8 now
    else:
        assert next(model.parameters()).dtype == torch.bfloat16
    assert np.max(np.abs(reduced - fp32)) < 0.05
    assert abs(pr_auc(y, reduced) - pr_auc(y, fp32)) < 0.02
    # The fp32 model is untouched (training, champion evaluation and attributions keep using it).
    assert next(fitted.model.parameters()).dtype == torch.float32
    np.testing.assert_allclose(risk.raw_proba(fitted.model, x, cpu), fp32)


def test_unknown_precision_is_rejected(fitted: risk.Fitted) -> None:
    with pytest.raises(ValueError, match="scoring precision"):
        for_scoring(fitted.model, "fp8", torch.device("cpu"))
