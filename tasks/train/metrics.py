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


def mrr_at_k(ranks: Sequence[int | None], k: int = 20) -> float:
    """Mean reciprocal rank, counting only targets ranked within the top k (MRR@k).

    Truncated at k because a list shows k items: a target at rank 300 is as
    useless to the shopper as one never ranked, and should not earn 1/300.
    """
    if len(ranks) == 0:
        return float("nan")
    return float(np.mean([1.0 / r if r is not None and r <= k else 0.0 for r in ranks]))


def catalogue_coverage(top_lists: Sequence[Sequence[object]], catalogue_size: int) -> float:
    """Share of the catalogue that appears in at least one top-k list.

    A policy with a high hit rate that only ever shows the same 10 bestsellers
    starves the long tail; coverage makes that visible next to HR@k.
    """
    if catalogue_size <= 0:
        return float("nan")
    shown = {item for items in top_lists for item in items}
    return float(len(shown) / catalogue_size)


def seasonal_naive_scale(insample: np.ndarray, season: int = 7) -> np.ndarray:
    """Per-series mean |y_t - y_{t-season}| over the in-sample window (MASE's denominator).

    ``insample`` is (series, days); a series shorter than one season gets NaN.
    """
    y = np.asarray(insample, dtype=float)
    if y.ndim == 1:
        y = y[None, :]
    if y.shape[1] <= season:
        return np.full(y.shape[0], np.nan)
    return np.abs(y[:, season:] - y[:, :-season]).mean(axis=1)


def mase(actual: np.ndarray, forecast: np.ndarray, insample: np.ndarray, season: int = 7) -> float:
    """Mean absolute scaled error: each series' forecast MAE divided by the MAE that the
    in-sample seasonal naive forecast made, averaged over series.

    Scale-free, so a slow and a fast seller count the same; < 1 beats seasonal naive
    in-sample. Series whose in-sample scale is 0 (e.g. never sold) have no defined
    MASE and are left out; NaN when none is left.
    """
    a = np.atleast_2d(np.asarray(actual, dtype=float))
    f = np.atleast_2d(np.asarray(forecast, dtype=float))
    scale = seasonal_naive_scale(insample, season)
    ok = np.isfinite(scale) & (scale > 0)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.abs(a[ok] - f[ok]).mean(axis=1) / scale[ok]))


# ---------------------------------------------- decision and calibration ---
# Added for the intent/risk recipes (issue 3). Thresholds are always *chosen* on a
# training-side validation slice and only *applied* on the holdout; these helpers
# do either, the caller decides on which rows.


def f1_at_threshold(y_true: np.ndarray, score: np.ndarray, threshold: float) -> float:
    """F1 of the rule ``score >= threshold`` (0 when nothing is predicted or nothing is positive)."""
    y = np.asarray(y_true).astype(bool)
    pred = np.asarray(score, dtype=float) >= threshold
    tp = float(np.sum(pred & y))
    denom = float(pred.sum() + y.sum())
    return 2 * tp / denom if denom > 0 else 0.0


def best_f1_threshold(y_true: np.ndarray, score: np.ndarray) -> float:
    """The score cut that maximises F1 on these rows (ties -> the higher cut, fewer alerts).

    Meant for a validation slice: the chosen value is then applied unchanged to the holdout.
    NaN when there is no positive row (no cut is meaningful).
    """
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=float)
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    k = np.arange(1, len(s) + 1)
    last_of_tie = np.r_[s_sorted[1:] != s_sorted[:-1], True]  # a cut includes every tied score
    f1 = np.where(last_of_tie, 2 * tp / (k + y.sum()), -1.0)
    best = np.flatnonzero(f1 == f1.max())[0]
    return float(s_sorted[best])


def threshold_for_precision(y_true: np.ndarray, score: np.ndarray, target: float) -> float:
    """The lowest score cut whose precision (on these rows) is >= ``target``.

    Lowest, because among cuts that meet the precision target it flags the most
    rows, i.e. gives the highest recall. ``inf`` when no cut reaches the target
    (then nothing is flagged: a precision promise is not made on a guess).
    """
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=float)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    precision = tp / np.arange(1, len(s) + 1)
    last_of_tie = np.r_[s_sorted[1:] != s_sorted[:-1], True] if len(s) else np.zeros(0, bool)
    ok = np.flatnonzero((precision >= target) & last_of_tie & (tp > 0))
    return float(s_sorted[ok[-1]]) if len(ok) else float("inf")


def precision_recall_at(y_true: np.ndarray, score: np.ndarray, threshold: float) -> tuple[float, float]:
    """(precision, recall) of ``score >= threshold``; precision is NaN when nothing is flagged."""
    y = np.asarray(y_true).astype(bool)
    pred = np.asarray(score, dtype=float) >= threshold
    tp = float(np.sum(pred & y))
    precision = tp / pred.sum() if pred.sum() else float("nan")
    recall = tp / y.sum() if y.sum() else float("nan")
    return float(precision), float(recall)


def recall_at_precision(y_true: np.ndarray, score: np.ndarray, target: float) -> float:
    """The best recall any cut reaches with precision >= ``target`` on these rows
    (the holdout's own operating curve; 0 when no cut reaches the target)."""
    y = np.asarray(y_true).astype(bool)
    if y.sum() == 0:
        return float("nan")
    cut = threshold_for_precision(y, score, target)
    return 0.0 if not np.isfinite(cut) else precision_recall_at(y, score, cut)[1]


def brier_score(y_true: np.ndarray, prob: np.ndarray) -> float:
    """Mean squared error of predicted probabilities (lower is better; 0.25 = always 0.5)."""
    y = np.asarray(y_true, dtype=float)
    return float(np.mean((np.asarray(prob, dtype=float) - y) ** 2)) if len(y) else float("nan")


def expected_calibration_error(y_true: np.ndarray, prob: np.ndarray, n_bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of (bin share) x |mean prob - observed rate|.

    Equal-width (not equal-mass) bins so that a model claiming 0.9 on a few rows
    is checked on exactly those rows; empty bins contribute nothing.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.clip(np.asarray(prob, dtype=float), 0.0, 1.0)
    if len(y) == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        mask = bins == b
        total += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(total)
