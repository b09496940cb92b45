"""The networks (GRU sequence model; the aggregates ensemble comes from ``tabular``), the
sequence loss and loading a version's network from its artefact."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tasks.train.common import Artefact, config_from_dict
from tasks.train.session_intent.config import EVENT_TYPES, SEQ_FEATURES, SessionIntentConfig
from tasks.train.tabular import BinaryMLP, EnsembleMLP, TabularSpec


class SequenceIntentNet(nn.Module):
    """GRU over the event sequence + MLP over the aggregates -> one purchase logit.

    The GRU's last state (after the latest pre-purchase event; sequences are
    left-padded) summarises order and tempo (e.g. view -> cart -> view of the same
    product), which session counts cannot express; the aggregate branch keeps what
    the counts already know, so the net starts no worse than the tabular model.
    """

    def __init__(self, n_agg: int, cfg: SessionIntentConfig) -> None:
        super().__init__()
        self.types = nn.Embedding(len(EVENT_TYPES) + 2, cfg.type_dim, padding_idx=0)
        self.gru = nn.GRU(cfg.type_dim + len(SEQ_FEATURES), cfg.gru_hidden, batch_first=True)
        width = cfg.hidden[-1]
        self.agg = BinaryMLP(n_agg, cfg.hidden, cfg.dropout).net[:-1]  # the MLP without its output layer
        self.head = nn.Sequential(nn.Linear(cfg.gru_hidden + width, width), nn.ReLU(), nn.Linear(width, 1))

    def forward(self, x: torch.Tensor, seq_type: torch.Tensor, seq_num: torch.Tensor) -> torch.Tensor:
        steps = torch.cat([self.types(seq_type), seq_num.float()], dim=-1)
        _, last = self.gru(steps)
        return self.head(torch.cat([last[-1], self.agg(x)], dim=-1)).squeeze(-1)


def _seq_bce(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    logits = model(batch["x"], batch["seq_type"], batch["seq_num"]).float()
    return nn.functional.binary_cross_entropy_with_logits(logits, batch["y"])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def load_model(art: Artefact, device: torch.device) -> tuple[nn.Module, TabularSpec, SessionIntentConfig, str]:
    cfg = config_from_dict(SessionIntentConfig, art.config)
    spec = TabularSpec.from_dict(art.preprocessing)
    kind = art.preprocessing.get("kind", "features")
    n_in = len(spec.feature_names)
    model: nn.Module = (SequenceIntentNet(n_in, cfg) if kind == "sequence"
                        else EnsembleMLP(n_in, cfg.hidden, cfg.dropout, cfg.members))
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), spec, cfg, kind
