"""The network's raw probability and loading a version's network from its artefact."""

from __future__ import annotations

import numpy as np
import torch

from tasks.train.common import Artefact, config_from_dict
from tasks.train.risk.config import RiskConfig
from tasks.train.tabular import EnsembleMLP, TabularSpec, predict_logits


def raw_proba(model: EnsembleMLP, x: np.ndarray, device: torch.device) -> np.ndarray:
    """The network's uncalibrated probability (Platt then works on its logit)."""
    return 1.0 / (1.0 + np.exp(-predict_logits(model, device, x=x)))


def load_model(art: Artefact, device: torch.device) -> tuple[EnsembleMLP, TabularSpec, RiskConfig]:
    cfg = config_from_dict(RiskConfig, art.config)
    spec = TabularSpec.from_dict(art.preprocessing)
    model = EnsembleMLP(len(spec.feature_names), cfg.hidden, cfg.dropout, cfg.members)
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), spec, cfg
