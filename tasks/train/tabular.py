"""Shared pieces of the two tabular classifiers (session intent, risk).

``TabularSpec`` turns a feature frame into a standardised matrix and remembers
everything it learned from the training rows (category levels, means, stds),
so scoring applies exactly the training-time transformation. ``BinaryMLP`` is
the small classifier both recipes train.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from tasks.train.common import TrainConfig, fit, standardise_apply, standardise_fit


@dataclass(frozen=True)
class TabularClassifierConfig(TrainConfig):
    """Hyper-parameters shared by the tabular MLP classifiers (session intent, risk)."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-3
    hidden: tuple[int, ...] = (32,)
    dropout: float = 0.1
    holdout_share: float = 0.2
    min_rows: int = 100

    def validate(self) -> None:
        super().validate()
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError("hidden must list at least one positive layer width")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")
        if not 0 < self.holdout_share < 1:
            raise ValueError("holdout_share must be in (0, 1)")
        if self.min_rows < 10:
            raise ValueError("min_rows must be >= 10")


@dataclass
class TabularSpec:
    """How raw feature columns become model inputs.

    - ``log_cols``: heavy-tailed non-negative counts/amounts -> log1p (nulls -> 0).
    - ``plain_cols``: numeric as is (nulls -> 0).
    - ``bool_cols``: 0/1 (nulls -> 0).
    - ``missing_cols``: add a ``<col>_missing`` 0/1 column (null carries information,
      e.g. no previous transaction).
    - ``cyclic``: column -> period; encoded as sin/cos so hour 23 is near hour 0.
    - ``categorical``: column -> levels seen in training (others map to ``other``).
    Every output column is then standardised with training means/stds.
    """

    log_cols: tuple[str, ...] = ()
    plain_cols: tuple[str, ...] = ()
    bool_cols: tuple[str, ...] = ()
    missing_cols: tuple[str, ...] = ()
    cyclic: dict[str, int] = field(default_factory=dict)
    categorical: dict[str, list[str]] = field(default_factory=dict)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    @property
    def input_columns(self) -> list[str]:
        cols = [*self.log_cols, *self.plain_cols, *self.bool_cols, *self.missing_cols,
                *self.cyclic, *self.categorical]
        return list(dict.fromkeys(cols))

    def features(self) -> list[tuple[str, str]]:
        """(model input name, source column) for every input, in matrix order."""
        out = [(c, c) for c in (*self.log_cols, *self.plain_cols, *self.bool_cols)]
        out += [(f"{c}_missing", c) for c in self.missing_cols]
        for c in self.cyclic:
            out += [(f"{c}_sin", c), (f"{c}_cos", c)]
        for c, levels in self.categorical.items():
            out += [(f"{c}={v}", c) for v in [*levels, "other"]]
        return out

    @property
    def feature_names(self) -> list[str]:
        return [name for name, _ in self.features()]

    def _raw_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.input_columns if c not in frame.columns]
        if missing:
            raise KeyError(f"feature frame lacks columns {missing}")
        parts: list[np.ndarray] = []

        def num(col: str) -> np.ndarray:
            return pd.to_numeric(frame[col], errors="coerce").astype(float).to_numpy()

        for c in self.log_cols:
            parts.append(np.log1p(np.clip(np.nan_to_num(num(c), nan=0.0), 0, None)))
        for c in self.plain_cols:
            parts.append(np.nan_to_num(num(c), nan=0.0))
        for c in self.bool_cols:
            parts.append(frame[c].astype("boolean").fillna(False).astype(float).to_numpy())
        for c in self.missing_cols:
            parts.append(frame[c].isna().astype(float).to_numpy())
        for c, period in self.cyclic.items():
            angle = 2 * np.pi * np.nan_to_num(num(c), nan=0.0) / period
            parts += [np.sin(angle), np.cos(angle)]
        for c, levels in self.categorical.items():
            values = frame[c].astype(object).where(frame[c].isin(levels), "other").to_numpy()
            parts += [(values == v).astype(float) for v in [*levels, "other"]]
        return np.stack(parts, axis=1) if parts else np.zeros((len(frame), 0))

    def fit(self, frame: pd.DataFrame, max_levels: int = 10) -> TabularSpec:
        """Learn category levels (most frequent first, capped) and standardisation from training rows."""
        for c in list(self.categorical):
            counts = frame[c].dropna().astype(str).value_counts()
            self.categorical[c] = sorted(counts.index[:max_levels].tolist())
        mean, std = standardise_fit(self._raw_matrix(frame))
        self.mean, self.std = mean.tolist(), std.tolist()
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.mean:
            raise RuntimeError("TabularSpec.transform before fit")
        return standardise_apply(self._raw_matrix(frame), self.mean, self.std)

    def to_dict(self) -> dict[str, Any]:
        return {"log_cols": list(self.log_cols), "plain_cols": list(self.plain_cols),
                "bool_cols": list(self.bool_cols), "missing_cols": list(self.missing_cols),
                # Pairs, not objects: config.json is written with sorted keys, and column
                # order must survive the round trip exactly.
                "cyclic": [[k, v] for k, v in self.cyclic.items()],
                "categorical": [[k, list(v)] for k, v in self.categorical.items()],
                "mean": list(self.mean), "std": list(self.std), "features": self.feature_names}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TabularSpec:
        return cls(log_cols=tuple(d["log_cols"]), plain_cols=tuple(d["plain_cols"]),
                   bool_cols=tuple(d["bool_cols"]), missing_cols=tuple(d["missing_cols"]),
                   cyclic={k: int(v) for k, v in d["cyclic"]},
                   categorical={k: list(v) for k, v in d["categorical"]},
                   mean=list(d["mean"]), std=list(d["std"]))


class BinaryMLP(nn.Module):
    """in -> hidden layers (ReLU, dropout) -> one logit."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def _bce(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(model(batch["x"]).float(), batch["y"])


def train_binary(x: np.ndarray, y: np.ndarray, hidden: tuple[int, ...], dropout: float,
                 cfg: TrainConfig, device: torch.device) -> tuple[BinaryMLP, list[float]]:
    """Fit a BinaryMLP with plain (unweighted) BCE so its outputs stay calibrated
    probabilities, which the intent and risk thresholds are expressed in."""
    model = BinaryMLP(x.shape[1], hidden, dropout)
    tensors = {"x": torch.as_tensor(x, dtype=torch.float32), "y": torch.as_tensor(y, dtype=torch.float32)}
    history = fit(model, tensors, _bce, cfg, device)
    return model, history


@torch.no_grad()
def predict_proba(model: BinaryMLP, x: np.ndarray, device: torch.device) -> np.ndarray:
    model.to(device).eval()
    if len(x) == 0:
        return np.zeros(0)
    logits = model(torch.as_tensor(x, dtype=torch.float32, device=device)).float()
    return torch.sigmoid(logits).cpu().numpy().astype(float)


def input_attributions(model: BinaryMLP, x: np.ndarray, device: torch.device) -> np.ndarray:
    """Gradient x input of the logit for each row and input (inputs are standardised,
    so 0 = the training mean and a positive value means "pushed the score up")."""
    model.to(device).eval()
    if len(x) == 0:
        return np.zeros_like(x)
    xt = torch.as_tensor(x, dtype=torch.float32, device=device).requires_grad_(True)
    model(xt).sum().backward()
    return (xt.grad * xt).detach().cpu().numpy()


def time_holdout(frame: pd.DataFrame, time_col: str, key_col: str, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout): the latest ``share`` of rows by time (ties broken by key) is the holdout."""
    ordered = frame.sort_values([time_col, key_col], kind="stable").reset_index(drop=True)
    n_hold = max(1, int(round(len(ordered) * share)))
    return ordered.iloc[:-n_hold].reset_index(drop=True), ordered.iloc[-n_hold:].reset_index(drop=True)
