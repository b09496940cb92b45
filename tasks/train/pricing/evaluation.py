"""Holdout metrics: demand prediction at the prices that were actually shown.

One scorer for the learned model and every baseline, on exactly the same product-days:
the last ``holdout_days`` of the window, each candidate fitted on the days before. A
candidate predicts ``exp(a_p + level + beta_p * x_pt)`` with ``level`` the mean day effect of
the last training week (it cannot know the holdout's traffic; no candidate can).
"""

from __future__ import annotations

import numpy as np

from tasks.train.pricing.elasticity import ElasticityFit
from tasks.train.pricing.panel import PricePanel

#: |log price - usual log price| above which a day counts as a price-changed day.
CHANGED = 0.01


def holdout_metrics(fit: ElasticityFit, panel: PricePanel, recent_days: int) -> dict[str, float]:
    """``wape`` (main): WAPE of each product's total units over the holdout days with a known
    price. Per-cell WAPE (``daily_wape``) is reported too, but daily counts are mostly 0 or 1, so
    a cell-level absolute error rewards predicting too little (the median of a sparse count is
    0) rather than the right expected demand; summing over the holdout first keeps the
    question "how many units at these prices" and tames that noise. ``changed_price_wape``:
    the same on the days whose price differs from the product's usual one (where elasticity
    matters); ``changed_price_bias``: predicted / actual units on those days; mean Poisson
    deviance. Undefined metrics are absent, never NaN."""
    start = fit.n_days
    lp = panel.log_price[:, start:]
    y = panel.units[:, start:]
    known = np.isfinite(lp)
    mu = fit.expected_units(np.where(known, lp, fit.ref_log_price[:, None]), fit.level(recent_days))
    changed = known & (np.abs(np.where(known, lp, 0.0) - fit.ref_log_price[:, None]) > CHANGED)
    out: dict[str, float] = {}
    if y[known].sum() > 0:
        out["wape"] = _total_wape(y, mu, known)
        out["daily_wape"] = float(np.abs(y - mu)[known].sum() / y[known].sum())
    if changed.any() and y[changed].sum() > 0:
        out["changed_price_wape"] = _total_wape(y, mu, changed)
        out["changed_price_bias"] = float(mu[changed].sum() / y[changed].sum())
    if known.any():
        with np.errstate(all="ignore"):
            term = np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)
        out["poisson_deviance"] = float(2 * term[known].mean())
        out["n_changed_price_days"] = float(changed.sum())
    return out


def _total_wape(y: np.ndarray, mu: np.ndarray, cells: np.ndarray) -> float:
    actual = np.where(cells, y, 0.0).sum(1)
    predicted = np.where(cells, mu, 0.0).sum(1)
    return float(np.abs(actual - predicted).sum() / actual.sum())
