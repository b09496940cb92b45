"""Forecast baselines and MASE on cases small enough to compute by hand.

The forecaster is only promoted when it beats these baselines, so each one is
pinned to numbers worked out on paper: a silently broken baseline would make a
bad model look good.
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


def test_seasonal_naive_by_hand() -> None:
    units = np.arange(28, dtype=float)[None, :]  # one product, day i sells i
    out = fb.seasonal_naive(units, origin=28, days=8)
    assert out[0, :, 1].tolist() == [21, 22, 23, 24, 25, 26, 27, 21]
    assert out[0, 0, 0] == pytest.approx(np.quantile([21, 14, 7, 0], 0.1))
    assert out[0, 0, 2] == pytest.approx(np.quantile([21, 14, 7, 0], 0.9))


def test_moving_average_by_hand() -> None:
    units = np.array([[0, 0, 4, 2, 6, 8], [1, 1, 1, 1, 1, 1]], dtype=float)
    out = fb.moving_average(units, origin=6, days=3, window=4)
    assert out[0, :, 1].tolist() == [5.0, 5.0, 5.0]  # mean of 4, 2, 6, 8
    assert out[0, 0, 0] == pytest.approx(np.quantile([4, 2, 6, 8], 0.1))
    assert out[1, :, :].tolist() == [[1.0, 1.0, 1.0]] * 3
    assert not fb.moving_average(units, origin=0, days=2).any()


def test_holt_winters_recursion_by_hand() -> None:
    # One series, alpha 0.5, gamma 0.5: first week initialises level = 2 (mean of 0..4, 2, 2)
    # and season = week - 2. Day 7 (weekday 0, season -2) sells 10: prediction 0, residual 10,
    # level = 0.5 * (10 - (-2)) + 0.5 * 2 = 7, season[0] = 0.5 * (10 - 7) + 0.5 * (-2) = 0.5.
    y = np.array([[0, 1, 2, 3, 4, 2, 2, 10]], dtype=float)
    level, season, resid = fb._hw_run(y, 0.5, 0.5, seasonal=True)
    assert resid.tolist() == [[10.0]]
    assert level.tolist() == [7.0]
    assert season[0].tolist() == [0.5, -1, 0, 1, 2, 0, 0]


def test_holt_winters_recovers_an_exact_weekly_pattern_and_a_flat_series() -> None:
    week = np.array([1, 5, 9, 5, 3, 0, 2], dtype=float)
    units = np.stack([np.tile(week, 8), np.full(56, 4.0)])
    out = fb.holt_winters(units, origin=49, days=10)
    np.testing.assert_allclose(out[0, :, 1], np.tile(week, 2)[:10], atol=1e-9)
    np.testing.assert_allclose(out[1, :, 1], 4.0, atol=1e-9)
    assert (out[..., 0] <= out[..., 1]).all()
    assert (out[..., 1] <= out[..., 2]).all()


def test_holt_winters_follows_a_level_shift() -> None:
    units = np.concatenate([np.full(35, 2.0), np.full(21, 10.0)])[None, :]
    out = fb.holt_winters(units, origin=56, days=7)
    assert out[0, :, 1] == pytest.approx(10.0, abs=0.5)


def test_last_price_uses_only_observed_past_prices() -> None:
    price = np.array([[3.0, 3.0, 5.0, 5.0, 9.0], [2.0, 2.0, 2.0, 2.0, 2.0]])
    observed = np.array([[True, False, True, False, True], [False, False, False, False, True]])
    out = fb.last_price(price, observed, origin=4, days=2)
    assert out[0].tolist() == [5.0, 5.0]  # day 4's 9.0 is the future
    assert np.isnan(out[1]).all()  # never observed before the origin
