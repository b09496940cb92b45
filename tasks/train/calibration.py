"""Platt scaling: turn any score into a probability, fitted on a validation slice.

Why Platt (a 2-parameter logistic fit on the logit of the score) rather than
isotonic regression: it is monotone and strictly increasing, so ranking metrics
(PR-AUC, ROC-AUC) are unchanged by calibration and only the probabilities move;
isotonic regression makes ties that change the ranking and over-fits the few
hundred validation rows (and the ~10 positives) a risk model often has. The
calibrator is always fitted on the time-ordered validation slice (after the
training rows, before the holdout), never on the holdout. Rule scores (rules-v1)
get calibrated the same way, so every baseline reports ECE/Brier on equal terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


@dataclass(frozen=True)
class Platt:
    """p = sigmoid(a * logit(score) + b). The identity is a=1, b=0."""

    a: float = 1.0
    b: float = 0.0

    def apply(self, score: np.ndarray) -> np.ndarray:
        z = self.a * _logit(score) + self.b
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict[str, float]:
        return {"method": "platt", "a": self.a, "b": self.b}  # type: ignore[dict-item]

    @classmethod
    def from_dict(cls, d: dict[str, float] | None) -> Platt:
        return cls() if not d else cls(float(d["a"]), float(d["b"]))


def fit_platt(score: np.ndarray, y: np.ndarray) -> Platt:
    """Fit on validation rows. With a single class there is nothing to learn: identity.

    A large C (weak regularisation): with two parameters there is little to over-fit,
    and the default C=1 would pull ``a`` towards 0, i.e. towards a constant.
    """
    y = np.asarray(y).astype(int)
    if len(np.unique(y)) < 2:
        return Platt()
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(_logit(score).reshape(-1, 1), y)
    return Platt(float(lr.coef_[0, 0]), float(lr.intercept_[0]))
