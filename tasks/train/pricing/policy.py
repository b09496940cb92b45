"""From an elasticity estimate to a recommended price, inside guardrails.

Demand at a candidate price ``p`` is ``q(p) = q0 * (p / p0) ** (beta + gamma * s)`` (the GLM's
own-price response around the current price ``p0``; ``gamma * s`` is the product's own weight
``s`` in its category price index), and the siblings' units move by ``(p / p0) ** (gamma * s)``:
with ``gamma > 0`` a cut takes units from them (cannibalisation). The objective is revenue
``p q(p)`` or margin ``(p - cost) q(p)`` of the product *plus the change in its siblings'*
(``sibling_value``: their expected revenue or margin per day at current prices). Margin needs a
cost; without one revenue is used and the reason says so.

Candidates are the current price and every price ending in ``price_ending`` within
``+-max_change`` of it and at least ``(1 + min_margin) * cost`` when the cost is known. A change
is only recommended when it wins under the point estimates *and* does not lose at any corner of
the ``beta +- ci_z se`` x ``gamma +- ci_z se`` box, gains at least ``min_gain`` of the product's
current value, and ``se <= max_elasticity_se``: an uncertain estimate keeps the current price.
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
    gain: float  # change of the objective (product + siblings) relative to the product's current value
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


def _value(prices: np.ndarray, current: float, q0: float, beta: float, cost: float | None, share: float,
           gamma: float, sibling_value: float) -> np.ndarray:
    ratio = prices / current
    own = (prices - (cost or 0.0)) * q0 * ratio ** (beta + gamma * share)
    return own + sibling_value * (ratio ** (gamma * share) - 1.0)


def recommend(current: float, q0: float, beta: float, se: float, cfg: PricingConfig, cost: float | None = None,
              *, share: float = 0.0, gamma: float = 0.0, gamma_se: float = 0.0,
              sibling_value: float = 0.0) -> Recommendation:
    """The guardrailed price for one product (module docstring)."""
    known_cost = cost is not None and math.isfinite(cost)
    objective = cfg.objective if known_cost or cfg.objective == "revenue" else "revenue"
    use_cost = cost if objective == "margin" else None
    fallback = " (margin asked, no unit cost known: revenue)" if objective != cfg.objective else ""
    keep_price = round(current, 2)
    own = beta + gamma * share  # the product's own-price elasticity, siblings' prices fixed
    if not (math.isfinite(current) and current > 0 and math.isfinite(beta)):
        return Recommendation(keep_price, "keep", objective, 0.0, "no usable current price or elasticity")
    if se > cfg.max_elasticity_se:
        return Recommendation(keep_price, "keep", objective, 0.0,
                              f"elasticity {own:.2f} too uncertain (se {se:.2f} > {cfg.max_elasticity_se:.2f}); "
                              "keep price")
    prices = np.array(candidate_prices(current, cfg, cost if known_cost else None))

    def value(p: np.ndarray, b: float, g: float) -> np.ndarray:
        return _value(p, current, q0, b, use_cost, share, g, sibling_value)

    values = value(prices, beta, gamma)
    base = float(value(np.array([current]), beta, gamma)[0])
    own_base = (current - (use_cost or 0.0)) * q0
    best = int(np.argmax(values))
    price = float(prices[best])
    gain = float((values[best] - base) / own_base) if own_base > 0 else 0.0
    siblings = f", siblings' cross-elasticity {gamma * share:+.2f}" if gamma and share else ""
    if price == keep_price or gain < cfg.min_gain:
        return Recommendation(keep_price, "keep", objective, 0.0,
                              f"elasticity {own:.2f} +- {se:.2f}{siblings}: no allowed price gains >= "
                              f"{cfg.min_gain:.0%} {objective}{fallback}; keep price")
    for b in (beta - cfg.ci_z * se, beta + cfg.ci_z * se):
        for g in {gamma - cfg.ci_z * gamma_se, gamma + cfg.ci_z * gamma_se}:
            if value(np.array([price]), b, g)[0] < value(np.array([current]), b, g)[0]:
                return Recommendation(keep_price, "keep", objective, 0.0,
                                      f"elasticity {own:.2f} +- {se:.2f}{siblings}: {price:.2f} would lose "
                                      f"{objective} at elasticity {b + g * share:.2f}"
                                      + (f" and cross-elasticity {g * share:+.2f}" if gamma_se else "")
                                      + " (interval end); keep price")
    action = "raise" if price > current else "lower"
    change = price / current - 1.0
    return Recommendation(price, action, objective, gain,
                          f"elasticity {own:.2f} +- {se:.2f}{siblings}: {action} {current:.2f} -> {price:.2f} "
                          f"({change:+.0%}) for {gain:+.1%} expected {objective}{fallback}")
