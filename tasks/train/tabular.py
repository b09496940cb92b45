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
    - ``categorical``: column -> levels seen in training (others map to ``other``);
      levels with fewer than ``min_level_count`` training rows also map to ``other``.
    - ``ple``: column -> quantile bin edges learned in ``fit`` when ``ple_bins > 0``:
      piecewise-linear encoding (one 0..1 ramp per bin; Gorishniy et al. 2022). It lets
      a small MLP express step-like effects (what makes GBTs strong on tabular data)
      and saturates outside the training range instead of extrapolating.
    Every output column is then standardised with training means/stds and, when
    ``clip`` is set, clipped to ``[-clip, clip]``: a one-hot level that is rare in
    training has a tiny std, and without the clip a later surge of that level
    (UCI Online Shoppers: visitor_type=Other, 0.01 % of training rows, 3.6 % of
    December) feeds values near 90 into the net and wrecks its ranking.
    """

    log_cols: tuple[str, ...] = ()
    plain_cols: tuple[str, ...] = ()
    bool_cols: tuple[str, ...] = ()
    missing_cols: tuple[str, ...] = ()
    cyclic: dict[str, int] = field(default_factory=dict)
    categorical: dict[str, list[str]] = field(default_factory=dict)
    ple: dict[str, list[float]] = field(default_factory=dict)
    ple_bins: int = 0
    clip: float | None = None
    min_level_count: int = 1
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    @property
    def input_columns(self) -> list[str]:
        cols = [*self.log_cols, *self.plain_cols, *self.bool_cols, *self.missing_cols,
                *self.cyclic, *self.categorical, *self.ple]
        return list(dict.fromkeys(cols))

    def features(self) -> list[tuple[str, str]]:
        """(model input name, source column) for every input, in matrix order."""
        out = [(c, c) for c in (*self.log_cols, *self.plain_cols, *self.bool_cols)]
        out += [(f"{c}_missing", c) for c in self.missing_cols]
        for c in self.cyclic:
            out += [(f"{c}_sin", c), (f"{c}_cos", c)]
        for c, levels in self.categorical.items():
            out += [(f"{c}={v}", c) for v in [*levels, "other"]]
        for c, edges in self.ple.items():
            out += [(f"{c}@bin{i}", c) for i in range(len(edges) - 1)]
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
        for c, edges in self.ple.items():
            e = np.asarray(edges, dtype=float)
            x = np.nan_to_num(num(c), nan=0.0)[:, None]
            parts += list(np.clip((x - e[:-1]) / np.maximum(e[1:] - e[:-1], 1e-12), 0.0, 1.0).T)
        return np.stack(parts, axis=1) if parts else np.zeros((len(frame), 0))

    def fit(self, frame: pd.DataFrame, max_levels: int = 10) -> TabularSpec:
        """Learn category levels (most frequent first, capped) and standardisation from training rows."""
        for c in list(self.categorical):
            counts = frame[c].dropna().astype(str).value_counts()
            counts = counts[counts >= self.min_level_count]
            self.categorical[c] = sorted(counts.index[:max_levels].tolist())
        if self.ple_bins > 0:
            for c in list(self.ple):
                x = np.nan_to_num(pd.to_numeric(frame[c], errors="coerce").astype(float).to_numpy(), nan=0.0)
                edges = np.unique(np.quantile(x, np.linspace(0, 1, self.ple_bins + 1))) if len(x) else []
                self.ple[c] = [float(v) for v in edges] if len(edges) >= 2 else []
            self.ple = {c: e for c, e in self.ple.items() if e}
        mean, std = standardise_fit(self._raw_matrix(frame))
        self.mean, self.std = mean.tolist(), std.tolist()
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.mean:
            raise RuntimeError("TabularSpec.transform before fit")
        out = standardise_apply(self._raw_matrix(frame), self.mean, self.std)
        return np.clip(out, -self.clip, self.clip) if self.clip else out

    def to_dict(self) -> dict[str, Any]:
        return {"log_cols": list(self.log_cols), "plain_cols": list(self.plain_cols),
                "bool_cols": list(self.bool_cols), "missing_cols": list(self.missing_cols),
                # Pairs, not objects: config.json is written with sorted keys, and column
                # order must survive the round trip exactly.
                "cyclic": [[k, v] for k, v in self.cyclic.items()],
                "categorical": [[k, list(v)] for k, v in self.categorical.items()],
                "ple": [[k, list(v)] for k, v in self.ple.items()], "ple_bins": self.ple_bins,
                "clip": self.clip, "min_level_count": self.min_level_count,
                "mean": list(self.mean), "std": list(self.std), "features": self.feature_names}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TabularSpec:
        return cls(log_cols=tuple(d["log_cols"]), plain_cols=tuple(d["plain_cols"]),
                   bool_cols=tuple(d["bool_cols"]), missing_cols=tuple(d["missing_cols"]),
                   cyclic={k: int(v) for k, v in d["cyclic"]},
                   categorical={k: list(v) for k, v in d["categorical"]},
                   ple={k: list(v) for k, v in d.get("ple", [])}, ple_bins=int(d.get("ple_bins", 0)),
                   clip=d.get("clip"), min_level_count=int(d.get("min_level_count", 1)),
                   mean=list(d["mean"]), std=list(d["std"]))


def hidden_layers(n_in: int, hidden: tuple[int, ...], dropout: float) -> tuple[list[nn.Module], int]:
    """The hidden part of an MLP (Linear, ReLU, Dropout per width in ``hidden``) and its output width."""
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    return layers, width


class BinaryMLP(nn.Module):
    """in -> hidden layers (ReLU, dropout) -> one logit."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], dropout: float = 0.0) -> None:
        super().__init__()
        layers, width = hidden_layers(n_in, hidden, dropout)
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

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


def time_split(frame: pd.DataFrame, time_col: str, key_col: str, holdout_share: float,
               val_share: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, validation, holdout) in time order, never splitting one timestamp.

    The holdout is the latest ~``holdout_share`` of rows, the validation slice the
    latest ~``val_share`` of what is left; the rest trains. Each cut is placed on a
    change of ``time_col`` (the one closest to the requested share), so rows that
    share a time stamp never straddle a cut: with month-only data (UCI Online
    Shoppers) whole months fall on one side, and nothing from a holdout month is
    seen in training. Validation picks epochs, thresholds and calibration; the
    holdout is only ever scored.
    """
    ordered = frame.sort_values([time_col, key_col], kind="stable").reset_index(drop=True)

    def cut(part: pd.DataFrame, share: float) -> int:
        times = part[time_col].to_numpy()
        changes = np.flatnonzero(times[1:] != times[:-1]) + 1  # index of the first row of a new time
        if len(changes) == 0:
            raise ValueError(f"cannot split on {time_col}: every row has the same time")
        target = len(part) * (1 - share)
        return int(changes[np.argmin(np.abs(changes - target))])

    at = cut(ordered, holdout_share)
    rest, hold = ordered.iloc[:at].reset_index(drop=True), ordered.iloc[at:].reset_index(drop=True)
    at_val = cut(rest, val_share)
    return rest.iloc[:at_val].reset_index(drop=True), rest.iloc[at_val:].reset_index(drop=True), hold


class EnsembleMLP(nn.Module):
    """``members`` independently initialised BinaryMLPs; the logit is their mean.

    Averaging a few seeds removes most of the run-to-run variance of a small MLP
    (on Online Shoppers single seeds spread by +-0.02 PR-AUC) at the cost of a few
    more multiply-adds; one module so it saves and loads as one state_dict.
    """

    def __init__(self, n_in: int, hidden: tuple[int, ...], dropout: float = 0.0, members: int = 1) -> None:
        super().__init__()
        self.members = nn.ModuleList([BinaryMLP(n_in, hidden, dropout) for _ in range(members)])

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.member_logits(x).mean(-1)


def _member_bce(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each member learns on its own (mean of member losses), so the members stay diverse."""
    logits = model.member_logits(batch["x"]).float()  # type: ignore[operator]
    target = batch["y"].unsqueeze(-1).expand_as(logits)
    return nn.functional.binary_cross_entropy_with_logits(logits, target)


def train_early_stopped(
    model: nn.Module,
    train_tensors: dict[str, torch.Tensor],
    val_tensors: dict[str, torch.Tensor],
    val_y: np.ndarray,
    loss_fn: Any,
    score_fn: Any,
    cfg: TrainConfig,
    device: torch.device,
    patience: int = 5,
) -> tuple[nn.Module, list[float], int]:
    """AdamW over shuffled minibatches; after every epoch the validation slice is scored
    (``score_fn(y, p)``, higher is better) and the best epoch's weights are kept.

    Returns (model with the best weights, per-epoch mean training loss, best epoch).
    The epoch is chosen on the time-ordered validation slice, never on the holdout,
    so the holdout numbers stay an honest estimate. Deterministic by ``cfg.seed``.
    """
    from tasks.train.common import fit

    val = {k: v.to(device) for k, v in val_tensors.items() if k != "y"}
    best = {"score": -np.inf, "epoch": 0,
            "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}

    def validate(epoch: int) -> bool:
        model.eval()
        with torch.no_grad():
            p = torch.sigmoid(model(**val).float()).cpu().numpy()
        score = score_fn(val_y, p)
        if np.isfinite(score) and score > best["score"] + 1e-6:
            best.update(score=score, epoch=epoch,
                        state={k: v.detach().clone() for k, v in model.state_dict().items()})
            return False
        return epoch - best["epoch"] >= patience

    history = fit(model, train_tensors, loss_fn, cfg, device, after_epoch=validate)
    best_state, best_epoch = best["state"], int(best["epoch"])
    model.load_state_dict(best_state)
    model.eval()
    return model, history, best_epoch


@torch.no_grad()
def predict_logits(model: nn.Module, device: torch.device, **inputs: np.ndarray) -> np.ndarray:
    """Raw logits of any of the binary models for numpy inputs (keyword = forward argument)."""
    model.to(device).eval()
    first = next(iter(inputs.values()))
    if len(first) == 0:
        return np.zeros(0)
    tensors = {k: torch.as_tensor(v, device=device) for k, v in inputs.items()}
    return model(**tensors).float().cpu().numpy().astype(float)
