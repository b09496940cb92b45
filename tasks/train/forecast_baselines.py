"""Forecast baselines the demand forecaster must beat, in plain numpy.

Each takes the dense units matrix (products x days), the forecast origin (first
day to forecast, an index into the days) and the number of days, and returns
(products, days, 3) P10/P50/P90 forecasts, so every baseline is scored on the
same cells as the model:

* ``seasonal_naive``: P50 = the same weekday last week; P10/P90 = the 10 %/90 %
  quantiles of that weekday over the last 4 weeks.
* ``moving_average``: P50 = mean of the last ``window`` days; P10/P90 = the
  10 %/90 % quantiles of those days (a flat forecast).
* ``holt_winters``: additive Holt-Winters with a weekly season (no trend: 90 days
  of retail history rarely support one), fitted per series by grid search of
  the smoothing constants on one-step in-sample error; the grid includes "no
  season" (simple exponential smoothing) so a series without a weekly pattern
  is not forced to have one. P10/P90 = P50 + the 10 %/90 % quantiles of the
  series' one-step in-sample residuals.
* ``last_price``: the price baseline: the last observed price before the
  origin, flat over the horizon.

statsmodels is deliberately not a dependency: these are a few lines each and
vectorised across series, which a per-series statsmodels fit is not.
"""

from __future__ import annotations

import itertools

import numpy as np

SEASON = 7
ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.8)
GAMMAS = (0.0, 0.05, 0.1, 0.2, 0.3)


def seasonal_naive(units: np.ndarray, origin: int, days: int) -> np.ndarray:
    """(P, days, 3): same weekday last week; quantiles of that weekday over 4 weeks."""
    out = np.zeros((units.shape[0], days, 3))
    for h in range(days):
        same_weekday = [origin - SEASON * k + (h % SEASON) for k in range(1, 5)]
        same_weekday = [d for d in same_weekday if 0 <= d < origin]
        if not same_weekday:
            continue
        values = units[:, same_weekday]
        out[:, h, 1] = values[:, 0]
        out[:, h, 0] = np.quantile(values, 0.1, axis=1)
        out[:, h, 2] = np.quantile(values, 0.9, axis=1)
    return out


def moving_average(units: np.ndarray, origin: int, days: int, window: int = 28) -> np.ndarray:
    """(P, days, 3): flat mean of the last ``window`` days, quantile band of the same days."""
    past = units[:, max(0, origin - window):origin]
    out = np.zeros((units.shape[0], days, 3))
    if past.shape[1] == 0:
        return out
    out[:, :, 0] = np.quantile(past, 0.1, axis=1)[:, None]
    out[:, :, 1] = past.mean(axis=1)[:, None]
    out[:, :, 2] = np.quantile(past, 0.9, axis=1)[:, None]
    return out


def _hw_run(y: np.ndarray, alpha: float, gamma: float, seasonal: bool
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Holt-Winters pass over (P, T): (final level (P,), final season (P, 7), residuals (P, T-7)).

    Initial level = first week's mean, initial season = first week minus that mean.
    The first week only initialises, so residuals start at day 7.
    """
    p, t = y.shape
    level = y[:, :SEASON].mean(axis=1)
    season = (y[:, :SEASON] - level[:, None]) if seasonal else np.zeros((p, SEASON))
    resid = np.zeros((p, max(t - SEASON, 0)))
    for i in range(SEASON, t):
        s = season[:, i % SEASON]
        resid[:, i - SEASON] = y[:, i] - (level + s)
        new_level = alpha * (y[:, i] - s) + (1 - alpha) * level
        if seasonal:
            season[:, i % SEASON] = gamma * (y[:, i] - new_level) + (1 - gamma) * s
        level = new_level
    return level, season, resid


def holt_winters(units: np.ndarray, origin: int, days: int) -> np.ndarray:
    """(P, days, 3): per-series best of the (alpha, gamma, seasonal?) grid on in-sample
    one-step squared error; P50 clipped at 0, band from residual quantiles."""
    y = units[:, :origin].astype(float)
    p = y.shape[0]
    out = np.zeros((p, days, 3))
    if origin < 2 * SEASON:
        return moving_average(units, origin, days)
    best_sse = np.full(p, np.inf)
    best_fc = np.zeros((p, days))
    best_res = np.zeros((p, origin - SEASON))
    grid = [(a, 0.0, False) for a in ALPHAS] + [(a, g, True) for a, g in itertools.product(ALPHAS, GAMMAS)]
    for alpha, gamma, seasonal in grid:
        level, season, resid = _hw_run(y, alpha, gamma, seasonal)
        sse = (resid**2).sum(axis=1)
        fc = level[:, None] + season[:, (origin + np.arange(days)) % SEASON]
        better = sse < best_sse - 1e-12
        best_sse = np.where(better, sse, best_sse)
        best_fc[better] = fc[better]
        best_res[better] = resid[better]
    lo, hi = np.quantile(best_res, 0.1, axis=1), np.quantile(best_res, 0.9, axis=1)
    out[:, :, 1] = np.clip(best_fc, 0, None)
    out[:, :, 0] = np.clip(best_fc + lo[:, None], 0, None)
    out[:, :, 2] = np.clip(best_fc + hi[:, None], 0, None)
    out[:, :, 0] = np.minimum(out[:, :, 0], out[:, :, 1])
    out[:, :, 2] = np.maximum(out[:, :, 2], out[:, :, 1])
    return out


def last_observed(values: np.ndarray, observed: np.ndarray, origin: int) -> np.ndarray:
    """(P,) the last value with ``observed`` True before ``origin`` (NaN when none):
    only the past, unlike a back-filled panel."""
    obs = observed[:, :origin]
    has = obs.any(axis=1)
    last_idx = origin - 1 - np.argmax(obs[:, ::-1], axis=1)
    out = np.full(values.shape[0], np.nan)
    out[has] = values[has, last_idx[has]]
    return out


def last_price(price: np.ndarray, observed: np.ndarray, origin: int, days: int) -> np.ndarray:
    """(P, days) the last observed price before the origin, repeated (NaN when never seen)."""
    return np.repeat(last_observed(price, observed, origin)[:, None], days, axis=1)
