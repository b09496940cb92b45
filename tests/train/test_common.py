"""Configs, device choice, versions and artefacts shared by every recipe."""

from __future__ import annotations

from datetime import datetime

import pytest
import torch

from tasks.train.common import (
    Artefact,
    DataWindow,
    TrainConfig,
    config_from_dict,
    epoch_batch_size,
    fit,
    load_artefact,
    make_version,
    pick_device,
    save_artefact,
)
from tasks.train.demand_forecaster import DemandConfig
from tasks.train.recommender import RecommenderConfig
from tasks.train.risk import RiskConfig
from tasks.train.session_intent import SessionIntentConfig

ALL_CONFIGS = [TrainConfig, RecommenderConfig, SessionIntentConfig, DemandConfig, RiskConfig]
WINDOW = DataWindow(datetime(2024, 1, 1), datetime(2024, 3, 1))


@pytest.mark.parametrize("cls", ALL_CONFIGS)
def test_default_configs_are_valid_and_round_trip(cls: type[TrainConfig]) -> None:
    cfg = cls()
    assert config_from_dict(cls, cfg.to_dict()) == cfg


@pytest.mark.parametrize(("cls", "bad"), [
    (TrainConfig, {"epochs": 0}),
    (TrainConfig, {"lr": 0.0}),
    (TrainConfig, {"seed": -1}),
    (TrainConfig, {"max_steps_per_epoch": -1}),
    (RecommenderConfig, {"holdout_days": 90, "lookback_days": 90}),
    (RecommenderConfig, {"recency_decay": 0.0}),
    (RecommenderConfig, {"cart_weight": 0.0}),
    (SessionIntentConfig, {"holdout_share": 1.0}),
    (SessionIntentConfig, {"val_share": 1.5}),
    (SessionIntentConfig, {"compare_min_products": 1}),
    (SessionIntentConfig, {"hidden": ()}),
    (DemandConfig, {"context_days": 3}),
    (DemandConfig, {"horizon_days": 0}),
    (RiskConfig, {"review_precision": 0.95, "precision_target": 0.9}),
    (RiskConfig, {"dropout": 1.0}),
])
def test_invalid_configs_are_rejected(cls: type[TrainConfig], bad: dict) -> None:
    with pytest.raises(ValueError):
        cls(**bad)


def test_unknown_config_keys_are_an_error() -> None:
    with pytest.raises(ValueError, match=r"RiskConfig: surprise: unknown key\(s\) \['surprise'\]"):
        config_from_dict(RiskConfig, {**RiskConfig().to_dict(), "surprise": 1})


def test_version_is_deterministic_and_sensitive_to_config_and_window() -> None:
    d = WINDOW.end.date()
    fp = {"data": "same-rows", "code": "same-code"}  # data/code: tests/train/test_version_fingerprints.py
    v1 = make_version("risk", d, RiskConfig(), WINDOW, **fp)
    assert v1 == make_version("risk", d, RiskConfig(), WINDOW, **fp)
    assert v1.startswith("risk-2024-03-01-")
    assert len(v1.rsplit("-", 1)[1]) == 8
    assert v1 != make_version("risk", d, RiskConfig(seed=7), WINDOW, **fp)
    assert v1 != make_version("risk", d, RiskConfig(), DataWindow(datetime(2024, 1, 2), WINDOW.end), **fp)


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            pick_device("cuda")


def test_artefact_round_trip(isolated_home) -> None:
    net = torch.nn.Linear(3, 2)
    art = Artefact(model="toy", version="toy-2024-03-01-abcdef12", config=RiskConfig().to_dict(),
                   window=WINDOW, state_dict=net.state_dict(), preprocessing={"features": ["a", "b", "c"]},
                   metrics={"pr_auc": 0.5}, baseline_metrics={"rules": {"pr_auc": 0.4}})
    folder = save_artefact(art)
    assert folder == isolated_home / "artefacts" / "toy" / art.version
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "metrics.json", "model.pt"]
    back = load_artefact(folder)
    assert back.version == art.version
    assert back.seed == 42
    assert back.window == WINDOW
    assert back.preprocessing["features"] == ["a", "b", "c"]
    assert back.metrics == {"pr_auc": 0.5}
    for k, v in net.state_dict().items():
        assert torch.equal(back.state_dict[k], v)


def test_steps_per_epoch_cap_grows_the_batch_only_for_big_data() -> None:
    """``max_steps_per_epoch`` bounds an epoch's optimiser steps on big data; small data keep the
    configured batch (the models' tuned behaviour on small shops does not move)."""
    cfg = TrainConfig(batch_size=8, max_steps_per_epoch=3, epochs=2)
    assert epoch_batch_size(20, cfg) == 8  # 3 steps of 8 already cover 20 rows
    assert epoch_batch_size(100, cfg) == 34  # ceil(100 / 3)
    assert epoch_batch_size(100, TrainConfig(batch_size=8)) == 8  # 0: no cap

    steps: list[int] = []
    model = torch.nn.Linear(2, 1)

    def loss(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        steps.append(len(batch["x"]))
        return (m(batch["x"]).squeeze(1) - batch["y"]).pow(2).mean()

    tensors = {"x": torch.randn(100, 2), "y": torch.randn(100)}
    fit(model, tensors, loss, cfg, torch.device("cpu"))
    assert steps == [34, 34, 32] * 2
    steps.clear()
    fit(model, tensors, loss, TrainConfig(batch_size=8, epochs=1), torch.device("cpu"))
    assert len(steps) == 13 and max(steps) == 8
