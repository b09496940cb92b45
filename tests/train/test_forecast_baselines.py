"""Forecast baselines (statsforecast wrappers) and MASE on cases small enough to
compute by hand.

The forecaster is only served when it beats these baselines, and a baseline may be
served itself, so each one is pinned to numbers worked out on paper or to edge
series (never sold, intermittent, returns): a silently broken baseline would make a
bad model look good or serve garbage.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.train import forecast_baselines as fb
from tasks.train.metrics import mase, seasonal_naive_scale


def test_mase_by_hand() -> None:
    insample = np.array([[1, 2, 3, 4, 5, 6, 7, 8, 9], [0, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=float)
    # Series 1: |8-1| = |9-2| = 7 -> scale 7; forecast MAE (1 + 3) / 2 = 2 -> 2/7.
    # Series 2 never varies: scale 0, MASE undefined, left out of the mean.
    actual = np.array([[10, 12], [5, 5]], dtype=float)
    forecast = np.array([[9, 9], [0, 0]], dtype=float)
    assert seasonal_naive_scale(insample).tolist() == [7.0, 0.0]
    assert mase(actual, forecast, insample) == pytest.approx(2 / 7)
    assert math.isnan(mase(actual[1:], forecast[1:], insample[1:]))
    assert math.isnan(seasonal_naive_scale(np.ones((1, 7)))[0])  # shorter than a season + 1


def test_statsforecast_seasonal_naive_and_window_average_by_hand() -> None:
    units = np.arange(28, dtype=float)[None, :]  # one series, day i sells i
    out = fb.statsforecast_baselines(units, origin=28, days=8, season=7, names=("seasonal_naive", "window_average"))
    assert out["seasonal_naive"][0, :, 1].tolist() == [21, 22, 23, 24, 25, 26, 27, 21]
    # window = 4 seasons = the 28 days: mean 13.5, band = their 10 %/90 % quantiles
    np.testing.assert_allclose(out["window_average"][0, :, 1], 13.5)
    assert out["window_average"][0, 0, 0] == pytest.approx(np.quantile(np.arange(28), 0.1))
    assert out["window_average"][0, 0, 2] == pytest.approx(np.quantile(np.arange(28), 0.9))


def test_statsforecast_baselines_shapes_order_and_edge_series() -> None:
    rng = np.random.default_rng(0)
    units = np.stack([
        np.tile([1, 5, 9, 5, 3, 0, 2], 10).astype(float),  # exact weekly pattern
        np.zeros(70),  # never sold: intermittent methods must not crash
        np.where(rng.random(70) < 0.1, 3.0, 0.0),  # intermittent
        rng.normal(0, 5, 70),  # returns: negative demand allowed
    ])
    out = fb.statsforecast_baselines(units, origin=63, days=7, season=7)
    assert set(out) == set(fb.UNIT_BASELINES)
    for name, pred in out.items():
        assert pred.shape == (4, 7, 3), name
        assert np.isfinite(pred).all(), name
        assert (pred[..., 0] <= pred[..., 1]).all() and (pred[..., 1] <= pred[..., 2]).all(), name
        assert (pred[:3] >= 0).all(), name  # series without returns are clipped at 0
        assert not pred[1].any(), name  # a never-sold series forecasts 0
    np.testing.assert_allclose(out["auto_ets"][0, :, 1], [1, 5, 9, 5, 3, 0, 2], atol=0.5)
    assert 0 < out["croston_optimized"][2, 0, 1] < 3  # a demand rate, below the demand size
    assert (out["seasonal_naive"][3, :, 1] == units[3, 56:63]).all()  # negatives kept


def test_last_price_uses_only_observed_past_prices() -> None:
    price = np.array([[3.0, 3.0, 5.0, 5.0, 9.0], [2.0, 2.0, 2.0, 2.0, 2.0]])
    observed = np.array([[True, False, True, False, True], [False, False, False, False, True]])
    out = fb.last_price(price, observed, origin=4, days=2)
    assert out[0].tolist() == [5.0, 5.0]  # day 4's 9.0 is the future
    assert np.isnan(out[1]).all()  # never observed before the origin
