"""Uplift metrics on randomised campaigns: Qini, AUUC and incremental conversions at a budget.

Qini and AUUC come from scikit-uplift (``sklift.metrics``), a maintained implementation of
Radcliffe's Qini curve and the uplift curve, instead of hand-written curves:

- ``qini_auc``: ``qini_auc_score`` — area between the model's Qini curve and the random one,
  divided by the same area of the perfect ranking (0 = random, 1 = perfect, < 0 worse than
  random); the main metric, because it reads the whole ranking;
- ``uplift_auc`` (AUUC): ``uplift_auc_score``, the same normalisation on the uplift curve.

Incremental conversions at the budget are what a marketer buys: per held-out campaign, the
``budget_share`` of its users with the highest scores is "the audience", and the randomised
hold-out inside that audience tells how many extra conversions sending would have caused:
``(treated conversion rate - control conversion rate) x audience size`` (``uplift_at_k``,
``strategy='overall'``), summed over the held-out campaigns.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd


def _sklift():  # noqa: ANN202 - the module; imported lazily (it imports matplotlib)
    from sklift import metrics

    return metrics


def _quiet(fn, *args, **kwargs) -> float:  # noqa: ANN001
    """sklift 0.5.1 calls a scikit-learn helper deprecated in 1.8 (``stable_cumsum``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            return float(fn(*args, **kwargs))
        except (ValueError, ZeroDivisionError):
            return float("nan")


def qini_auc(y: np.ndarray, score: np.ndarray, treated: np.ndarray) -> float:
    return _quiet(_sklift().qini_auc_score, np.asarray(y, int), np.asarray(score, float),
                  np.asarray(treated, int))


def uplift_auc(y: np.ndarray, score: np.ndarray, treated: np.ndarray) -> float:
    return _quiet(_sklift().uplift_auc_score, np.asarray(y, int), np.asarray(score, float),
                  np.asarray(treated, int))


def incremental_at_budget(frame: pd.DataFrame, score: np.ndarray, budget_share: float) -> tuple[float, float]:
    """(incremental conversions summed over campaigns, audience size summed) for the top
    ``budget_share`` of each campaign's users by ``score`` (``frame``: campaign_id, converted,
    is_treated)."""
    total, audience = 0.0, 0
    scored = frame.assign(_score=np.asarray(score, float))
    for _, part in scored.groupby("campaign_id", sort=True):
        y, t = part["converted"].to_numpy(int), part["is_treated"].to_numpy(int)
        if len(set(t)) < 2:
            continue
        k = max(1, int(math.floor(budget_share * len(part))))
        top = np.argsort(-part["_score"].to_numpy(), kind="stable")[:k]
        yt, tt = y[top], t[top]
        if tt.sum() == 0 or (1 - tt).sum() == 0:
            continue
        total += (yt[tt == 1].mean() - yt[tt == 0].mean()) * k
        audience += k
    return float(total), float(audience)


def uplift_metrics(frame: pd.DataFrame, score: np.ndarray, budget_share: float) -> dict[str, float]:
    """Every metric a candidate (model or baseline) reports on the held-out campaigns."""
    y, t = frame["converted"].to_numpy(int), frame["is_treated"].to_numpy(int)
    incremental, audience = incremental_at_budget(frame, score, budget_share)
    return {
        "qini_auc": qini_auc(y, score, t),
        "uplift_auc": uplift_auc(y, score, t),
        "incremental_at_budget": incremental,
        "uplift_at_budget": incremental / audience if audience else float("nan"),
        "budget_share": float(budget_share),
        "n_holdout": float(len(frame)),
        "n_holdout_campaigns": float(frame["campaign_id"].nunique()),
        "observed_ate": float(y[t == 1].mean() - y[t == 0].mean()) if 0 < t.sum() < len(t) else float("nan"),
    }
