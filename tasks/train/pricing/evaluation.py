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
    """``wape`` (main) over every holdout product-day with a known price; ``changed_price_wape``
    on the days whose price differs from the product's usual one (where elasticity matters);
    mean Poisson deviance. Undefined metrics are absent, never NaN."""
    start = fit.n_days
    lp = panel.log_price[:, start:]
    y = panel.units[:, start:]
    known = np.isfinite(lp)
    mu = fit.expected_units(np.where(known, lp, fit.ref_log_price[:, None]), fit.level(recent_days))
    changed = known & (np.abs(np.where(known, lp, 0.0) - fit.ref_log_price[:, None]) > CHANGED)
    out: dict[str, float] = {}
    if y[known].sum() > 0:
        out["wape"] = float(np.abs(y - mu)[known].sum() / y[known].sum())
    if changed.any() and y[changed].sum() > 0:
        out["changed_price_wape"] = float(np.abs(y - mu)[changed].sum() / y[changed].sum())
    if known.any():
        with np.errstate(all="ignore"):
            term = np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)
        out["poisson_deviance"] = float(2 * term[known].mean())
        out["n_changed_price_days"] = float(changed.sum())
    return out
