"""From an elasticity estimate to a recommended price, inside guardrails.

Demand at a candidate price ``p`` is ``q(p) = q0 * (p / p0) ** beta`` (the GLM's own-price
response around the current price ``p0``, everything else held fixed). Candidates are the
current price and every price ending in ``price_ending`` within ``+-max_change`` of it and at
least ``(1 + min_margin) * cost`` when the cost is known. The objective is revenue
``p q(p)`` or margin ``(p - cost) q(p)`` (margin needs a cost; without one revenue is used and
the reason says so). A change is only recommended when it wins under the point estimate *and*
does not lose at either end of the ``beta +- ci_z * se`` interval, gains at least ``min_gain``,
and ``se <= max_elasticity_se``: an uncertain estimate keeps the current price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tasks.train.pricing.config import PricingConfig


@dataclass(frozen=True)
class Recommendation:
    price: float
    action: str  # raise | lower | keep
    objective: str  # what was maximised (revenue | margin)
    gain: float  # relative change of the objective under the point estimate
    reason: str


def candidate_prices(current: float, cfg: PricingConfig, cost: float | None = None) -> list[float]:
    """The current price plus every allowed price (ending, max change, margin floor), ascending."""
    lo, hi = current * (1 - cfg.max_change), current * (1 + cfg.max_change)
    if cost is not None and math.isfinite(cost):
        lo = max(lo, cost * (1 + cfg.min_margin))
    if cfg.price_ending is None:
        grid = np.arange(math.ceil(lo * 100), math.floor(hi * 100) + 1) / 100.0
    else:
        whole = np.arange(math.floor(lo), math.ceil(hi) + 1)
        grid = whole + cfg.price_ending
    grid = [round(float(p), 2) for p in grid if lo - 1e-9 <= p <= hi + 1e-9 and p > 0]
    return sorted(set(grid) | {round(current, 2)})


def _value(prices: np.ndarray, current: float, q0: float, beta: float, cost: float | None) -> np.ndarray:
    q = q0 * (prices / current) ** beta
    return (prices - (cost or 0.0)) * q


def recommend(current: float, q0: float, beta: float, se: float, cfg: PricingConfig,
              cost: float | None = None) -> Recommendation:
    """The guardrailed price for one product (module docstring)."""
    known_cost = cost is not None and math.isfinite(cost)
    objective = cfg.objective if known_cost or cfg.objective == "revenue" else "revenue"
    use_cost = cost if objective == "margin" else None
    fallback = " (margin asked, no unit cost known: revenue)" if objective != cfg.objective else ""
    keep = Recommendation(round(current, 2), "keep", objective, 0.0, "")
    if not (math.isfinite(current) and current > 0 and math.isfinite(beta)):
        return Recommendation(keep.price, "keep", objective, 0.0, "no usable current price or elasticity")
    if se > cfg.max_elasticity_se:
        return Recommendation(keep.price, "keep", objective, 0.0,
                              f"elasticity {beta:.2f} too uncertain (se {se:.2f} > {cfg.max_elasticity_se:.2f}); "
                              "keep price")
    prices = np.array(candidate_prices(current, cfg, cost if known_cost else None))
    values = _value(prices, current, q0, beta, use_cost)
    base = float(_value(np.array([current]), current, q0, beta, use_cost)[0])
    best = int(np.argmax(values))
    price = float(prices[best])
    gain = float(values[best] / base - 1.0) if base > 0 else 0.0
    if price == round(current, 2) or gain < cfg.min_gain:
        return Recommendation(keep.price, "keep", objective, 0.0,
                              f"elasticity {beta:.2f} +- {se:.2f}: no allowed price gains >= "
                              f"{cfg.min_gain:.0%} {objective}{fallback}; keep price")
    low, high = beta - cfg.ci_z * se, beta + cfg.ci_z * se
    for b in (low, high):
        alt = float(_value(np.array([price]), current, q0, b, use_cost)[0])
        alt_base = float(_value(np.array([current]), current, q0, b, use_cost)[0])
        if alt < alt_base:
            return Recommendation(keep.price, "keep", objective, 0.0,
                                  f"elasticity {beta:.2f} +- {se:.2f}: {price:.2f} would lose {objective} at "
                                  f"elasticity {b:.2f} (interval end); keep price")
    action = "raise" if price > current else "lower"
    change = price / current - 1.0
    return Recommendation(price, action, objective, gain,
                          f"elasticity {beta:.2f} +- {se:.2f}: {action} {current:.2f} -> {price:.2f} "
                          f"({change:+.0%}) for {gain:+.1%} expected {objective}{fallback}")
