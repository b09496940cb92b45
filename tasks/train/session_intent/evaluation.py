"""Holdout metrics of any intent scorer: model, baselines and champion use this one function."""

from __future__ import annotations

import numpy as np

from tasks.train.metrics import best_f1_threshold, f1_at_threshold, pr_auc, roc_auc


def evaluate_scores(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """The metric keys every intent scorer (model and baselines) reports on the holdout."""
    return {"pr_auc": pr_auc(y, p), "roc_auc": roc_auc(y, p), "f1": f1_at_threshold(y, p, threshold),
            "threshold": threshold, "positive_rate": float(np.mean(y)), "n_holdout": float(len(y))}


def _scorer_metrics(p_val: np.ndarray, y_val: np.ndarray, p_hold: np.ndarray,
                    y_hold: np.ndarray) -> tuple[dict[str, float], float]:
    threshold = best_f1_threshold(y_val, p_val)
    return evaluate_scores(y_hold, p_hold, threshold), threshold
