"""Evaluation metrics, written out so tests can check them on hand-computed cases.

Ranking metrics take the 1-based rank of the true item (or None when it is not
ranked at all), so any model or baseline can be scored the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def hit_rate_at_k(ranks: Sequence[int | None], k: int = 10) -> float:
    """Share of targets ranked within the top k (HR@k)."""
    if len(ranks) == 0:
        return float("nan")
    return float(np.mean([r is not None and r <= k for r in ranks]))


def ndcg_at_k(ranks: Sequence[int | None], k: int = 10) -> float:
    """NDCG@k with one relevant item per target: 1/log2(rank + 1) when rank <= k."""
    if len(ranks) == 0:
        return float("nan")
    return float(np.mean([1.0 / math.log2(r + 1) if r is not None and r <= k else 0.0 for r in ranks]))


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC, NaN (not an exception) when the holdout has a single class."""
    y = np.asarray(y_true).astype(int)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, score))


def pr_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Average precision (area under the precision-recall curve); NaN without positives."""
    y = np.asarray(y_true).astype(int)
    if y.sum() == 0:
        return float("nan")
    return float(average_precision_score(y, score))


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error: sum|a - f| / sum|a| (NaN when nothing sold)."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    denom = np.abs(a).sum()
    return float(np.abs(a - f).sum() / denom) if denom > 0 else float("nan")


def pinball_loss(actual: np.ndarray, forecast: np.ndarray, quantile: float) -> float:
    """Mean quantile loss: q*(a-f) when under-forecasting, (1-q)*(f-a) when over."""
    diff = np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float)
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1) * diff)))


def interval_coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actuals inside [lower, upper] (a P10-P90 interval should cover ~0.8)."""
    a = np.asarray(actual, dtype=float)
    return float(np.mean((a >= np.asarray(lower)) & (a <= np.asarray(upper))))
