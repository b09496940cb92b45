"""Metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.train.metrics import (
    hit_rate_at_k,
    interval_coverage,
    ndcg_at_k,
    pinball_loss,
    pr_auc,
    roc_auc,
    wape,
)


def test_hit_rate_and_ndcg_by_hand() -> None:
    ranks = [1, 3, 10, 11, None]
    assert hit_rate_at_k(ranks, 10) == pytest.approx(3 / 5)
    assert hit_rate_at_k(ranks, 1) == pytest.approx(1 / 5)
    expected = (1 / math.log2(2) + 1 / math.log2(4) + 1 / math.log2(11)) / 5
    assert ndcg_at_k(ranks, 10) == pytest.approx(expected)
    assert math.isnan(hit_rate_at_k([], 10))


def test_pinball_loss_known_values() -> None:
    # under-forecast by 10 at q=0.9 costs 9; over-forecast by 10 costs 1.
    assert pinball_loss(np.array([20.0]), np.array([10.0]), 0.9) == pytest.approx(9.0)
    assert pinball_loss(np.array([10.0]), np.array([20.0]), 0.9) == pytest.approx(1.0)
    assert pinball_loss(np.array([20.0, 10.0]), np.array([10.0, 20.0]), 0.5) == pytest.approx(5.0)


def test_wape_and_coverage() -> None:
    assert wape(np.array([10, 0, 30]), np.array([12, 1, 27])) == pytest.approx(6 / 40)
    assert math.isnan(wape(np.zeros(3), np.ones(3)))
    actual = np.array([1, 5, 10, 20])
    assert interval_coverage(actual, np.array([0, 5, 11, 0]), np.array([2, 6, 12, 19])) == pytest.approx(0.5)


def test_classification_metrics() -> None:
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert pr_auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(1.0)
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))
    assert math.isnan(pr_auc(np.array([0, 0]), np.array([0.2, 0.3])))
