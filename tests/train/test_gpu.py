"""Opt-in CUDA checks (``pytest -m gpu``): the same recipes run under autocast on a GPU
and land close to the CPU result. Skipped where no GPU is present."""

from __future__ import annotations

from datetime import date

import pytest
import torch

from tasks.train import demand_forecaster as dm
from tasks.train import session_intent as si
from tasks.train.common import pick_device
from tests.fixtures import synthetic_frames

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

D = date(2024, 3, 1)


def test_auto_device_is_cuda() -> None:
    assert pick_device("auto").type == "cuda"


def test_session_intent_on_cuda_matches_cpu_quality() -> None:
    frame = synthetic_frames.session_features(D, seed=0)
    gpu = si.fit_and_evaluate(frame, si.SessionIntentConfig(), torch.device("cuda"))
    cpu = si.fit_and_evaluate(frame, si.SessionIntentConfig(), torch.device("cpu"))
    assert gpu.metrics["roc_auc"] == pytest.approx(cpu.metrics["roc_auc"], abs=0.03)


def test_demand_on_cuda_matches_cpu_and_beats_seasonal_naive() -> None:
    sales, cfg = synthetic_frames.daily_item_sales(D, seed=0), dm.DemandConfig(epochs=15, horizon_days=14)
    gpu = dm.fit_and_evaluate(sales, cfg, torch.device("cuda"))
    cpu = dm.fit_and_evaluate(sales, cfg, torch.device("cpu"))
    assert gpu.metrics["wape"] == pytest.approx(cpu.metrics["wape"], abs=0.03)
    assert gpu.metrics["wape"] < gpu.baselines["seasonal_naive"]["wape"]
