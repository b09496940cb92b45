"""Forecast baselines the demand forecaster must beat (and that may be served instead).

Every baseline takes the dense units matrix (series x periods), the forecast
origin (first period to forecast, an index into the periods), the number of
periods and the grain's season length, and returns (series, periods, 3)
P10/P50/P90 forecasts, so every baseline is scored on the same cells as the model.

Unit baselines come from statsforecast (a maintained library; pinned by the
caller's environment, tested with ``statsforecast==2.1.1``), so "beats the
baseline" means "beats the standard implementation", not a home-made one:

* ``seasonal_naive``: ``SeasonalNaive(season)``; P10/P90 from its 80 % interval.
* ``window_average``: ``WindowAverage(4 seasons)`` (4 weeks on daily data); band =
  10 %/90 % quantiles of the same window (statsforecast gives no interval for it).
* ``auto_ets``: ``AutoETS(season)`` (model selected by AICc per series), fitted on
  at most the last ``ETS_MAX_SEASONS`` seasons (cost grows with the length; a
  year of daily data is plenty for an ETS state, which forgets faster than that); P10/P90 = its 80 % interval.
  statsforecast ignores the season when it is longer than 24 (weekly grain: 52),
  i.e. it is then a non-seasonal ETS, which is what that library offers.
* ``croston_optimized`` and ``tsb`` (Teunter-Syntetos-Babai): intermittent-demand
  methods. They model non-negative demand, so returns are clipped to 0 on their
  input; a series that never sold gets 0. Band = window quantiles as above
  (statsforecast gives no native interval for them).

P50 and the band are clipped at 0 for series that never had negative demand
(returns) before the origin, exactly like the model's forecasts.

Kept in numpy because statsforecast has no equivalent: ``last_observed`` /
``last_price`` -- the price baseline carries the last *observed* price (only days
with a sale carry one), which is a masked series statsforecast cannot express
without inventing prices for the gaps.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

UNIT_BASELINES = ("seasonal_naive", "window_average", "auto_ets", "croston_optimized", "tsb")
ETS_MAX_SEASONS = 53  # a year of weekday seasons on daily data
TSB_ALPHA_D, TSB_ALPHA_P = 0.1, 0.1


def _long(units: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """statsforecast's long format with integer time stamps (freq=1): no calendar
    alignment to get wrong, the grain is already in the matrix."""
    p, t = units[rows].shape
    return pd.DataFrame({"unique_id": np.repeat(rows, t), "ds": np.tile(np.arange(t), p),
                         "y": units[rows].reshape(-1).astype(float)})


def _wide(frame: pd.DataFrame, column: str, rows: np.ndarray, n_series: int, days: int) -> np.ndarray:
    """(n_series, days) from a statsforecast forecast frame; series not in ``rows`` stay 0."""
    out = np.zeros((n_series, days))
    ordered = frame.sort_values(["unique_id", "ds"])
    ids = ordered["unique_id"].to_numpy().astype(int)
    values = ordered[column].to_numpy(dtype=float).reshape(-1, days)
    out[ids[::days]] = values
    return out


def _band(units: np.ndarray, origin: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(P,) 10 %/90 % quantiles of the last ``window`` periods (zeros without history)."""
    past = units[:, max(0, origin - window):origin]
    if past.shape[1] == 0:
        return np.zeros(units.shape[0]), np.zeros(units.shape[0])
    return np.quantile(past, 0.1, axis=1), np.quantile(past, 0.9, axis=1)


def _finish(lo: np.ndarray, mid: np.ndarray, hi: np.ndarray, nonneg: np.ndarray) -> np.ndarray:
    """Stack to (P, days, 3), clip non-negative series at 0 and keep P10 <= P50 <= P90."""
    out = np.stack([lo, mid, hi], axis=-1)
    out = np.where(nonneg[:, None, None], np.clip(out, 0, None), out)
    out[..., 0] = np.minimum(out[..., 0], out[..., 1])
    out[..., 2] = np.maximum(out[..., 2], out[..., 1])
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def statsforecast_baselines(units: np.ndarray, origin: int, days: int, season: int,
                            names: tuple[str, ...] = UNIT_BASELINES) -> dict[str, np.ndarray]:
    """(P, days, 3) per baseline in ``names``, fitted on periods ``[0, origin)`` of each series."""
    from statsforecast import StatsForecast
    from statsforecast.models import TSB, AutoETS, CrostonOptimized, SeasonalNaive, WindowAverage

    y = np.asarray(units, dtype=float)[:, :origin]
    p = y.shape[0]
    nonneg = (y >= 0).all(axis=1)
    every = np.arange(p)
    window = 4 * season if season <= 12 else 8
    band_lo, band_hi = _band(y, origin, window)
    flat = np.ones((1, days))
    out: dict[str, np.ndarray] = {}
    if p == 0 or origin == 0:
        return {name: np.zeros((p, days, 3)) for name in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "seasonal_naive" in names:
            if origin >= season:
                fc = StatsForecast(models=[SeasonalNaive(season)], freq=1, n_jobs=1).forecast(
                    df=_long(y, every), h=days, level=[80])
                out["seasonal_naive"] = _finish(*(_wide(fc, c, every, p, days) for c in (
                    "SeasonalNaive-lo-80", "SeasonalNaive", "SeasonalNaive-hi-80")), nonneg)
            else:  # shorter than one season: the last value, like a naive forecast
                last = y[:, -1:] * flat
                out["seasonal_naive"] = _finish(last, last, last, nonneg)
        if "window_average" in names:
            fc = StatsForecast(models=[WindowAverage(min(window, origin))], freq=1, n_jobs=1).forecast(
                df=_long(y, every), h=days)
            mid = _wide(fc, "WindowAverage", every, p, days)
            out["window_average"] = _finish(band_lo[:, None] * flat, mid, band_hi[:, None] * flat, nonneg)
        if "auto_ets" in names:
            recent = y[:, -ETS_MAX_SEASONS * season:] if season <= 12 else y[:, -3 * season:]
            fc = StatsForecast(models=[AutoETS(season_length=season if recent.shape[1] >= 2 * season else 1)],
                               freq=1, n_jobs=1).forecast(df=_long(recent, every), h=days, level=[80])
            out["auto_ets"] = _finish(*(_wide(fc, c, every, p, days) for c in (
                "AutoETS-lo-80", "AutoETS", "AutoETS-hi-80")), nonneg)
        intermittent = [n for n in ("croston_optimized", "tsb") if n in names]
        if intermittent:
            demand = np.clip(y, 0, None)
            sold = np.flatnonzero((demand > 0).any(axis=1))
            models = {"croston_optimized": CrostonOptimized(), "tsb": TSB(TSB_ALPHA_D, TSB_ALPHA_P)}
            cols = {"croston_optimized": "CrostonOptimized", "tsb": "TSB"}
            fc = None
            if len(sold):
                fc = StatsForecast(models=[models[n] for n in intermittent], freq=1, n_jobs=1).forecast(
                    df=_long(demand, sold), h=days)
            for name in intermittent:
                mid = _wide(fc, cols[name], sold, p, days) if fc is not None else np.zeros((p, days))
                out[name] = _finish(band_lo[:, None] * flat, mid, band_hi[:, None] * flat, nonneg)
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
