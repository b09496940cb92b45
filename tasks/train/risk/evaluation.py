"""Calibration, thresholds and holdout metrics of any risk scorer (model, baselines, champion).

One function scores them all, on the same validation slice and holdout.
"""

from __future__ import annotations

import numpy as np

from tasks.train.calibration import Platt, fit_platt
from tasks.train.metrics import (
    brier_score,
    expected_calibration_error,
    pr_auc,
    precision_recall_at,
    recall_at_precision,
    roc_auc,
)
from tasks.train.risk.config import RiskConfig
from tasks.train.risk.policy import Thresholds, choose_thresholds


def evaluate_probabilities(y: np.ndarray, p: np.ndarray, thresholds: Thresholds,
                           precision_target: float) -> dict[str, float]:
    """The metric keys every risk scorer (model and baselines) reports on the holdout.

    ``precision_at_block`` is 0 when the cut flags nothing on the holdout (no
    block was issued, so no precision was delivered either).
    """
    precision, recall = precision_recall_at(y, p, thresholds.t_block)
    return {"pr_auc": pr_auc(y, p), "roc_auc": roc_auc(y, p),
            "recall_at_p90": recall_at_precision(y, p, precision_target),
            "precision_at_block": 0.0 if np.isnan(precision) else precision,
            "recall_at_block": recall, "ece": expected_calibration_error(y, p), "brier": brier_score(y, p),
            "t_block": thresholds.t_block if np.isfinite(thresholds.t_block) else 1.0,
            "t_review": thresholds.t_review if np.isfinite(thresholds.t_review) else 1.0,
            "positive_rate": float(np.mean(y)), "n_holdout": float(len(y))}


def calibrate_and_evaluate(val_score: np.ndarray, y_val: np.ndarray, hold_score: np.ndarray,
                           y_hold: np.ndarray, cfg: RiskConfig) -> tuple[dict[str, float], Platt, Thresholds]:
    """Platt + thresholds from the validation slice, metrics on the holdout (one scorer)."""
    platt = fit_platt(val_score, y_val)
    p_val = platt.apply(val_score)
    thresholds = choose_thresholds(y_val, p_val, cfg.precision_target, cfg.review_precision)
    return (evaluate_probabilities(y_hold, platt.apply(hold_score), thresholds, cfg.precision_target),
            platt, thresholds)
