"""The policy maths: demand over the protection period, safety stock, reorder point, order
quantity, P(stock-out), days of cover and the reason a merchandiser reads.

Periodic review with lead time ``L`` and review period ``R``: an order placed today arrives in
``L`` days and the next chance to order is in ``R`` days, so today's decision must cover the
demand of the next ``L + R`` days (the *protection period*). With ``D`` that demand:

- reorder point (= order-up-to level) ``S = q_alpha(D)``, the service-level quantile;
- safety stock ``S - E[D]`` (what is held beyond the expected demand; negative below ~50 %);
- order when the inventory position ``IP`` (on hand + on order) is below ``S``, i.e. when
  ``P(stock-out before the next delivery) = P(D > IP) > 1 - alpha``; the quantity is ``S - IP``
  rounded up to whole packs and at least the MOQ (``tasks.replenishment.order_quantity``);
- days of cover: on hand / expected daily demand.

``D`` is a gamma distribution matched to its mean and variance: non-negative and right-skewed
like intermittent retail demand, and exact enough for the quantiles a service level needs
(a normal would put mass below zero for slow movers). Mean and variance come either from the
policy's own history (trailing ``history_days`` of daily sales: mean rate, daily variance
floored at the Poisson variance, summed over the protection days as independent days) or from
the demand forecaster's P10/P50/P90 (``from_forecast_quantiles``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Pearson-Tukey three-point weights: mean ~ 0.185 P10 + 0.63 P50 + 0.185 P90.
_PT_WEIGHTS = (0.185, 0.63, 0.185)
#: P90 - P10 of a normal is 2.563 sigma.
_P10_P90_SIGMAS = 2 * stats.norm.ppf(0.9)


@dataclass(frozen=True)
class Demand:
    """Demand over each product's protection period: mean and variance (units)."""

    mean: np.ndarray
    var: np.ndarray


def _gamma(demand: Demand) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.maximum(np.asarray(demand.mean, dtype=float), 0.0)
    var = np.maximum(np.asarray(demand.var, dtype=float), 1e-9)
    positive = mean > 1e-9
    shape = np.where(positive, mean ** 2 / var, 1.0)
    scale = np.where(positive, var / np.maximum(mean, 1e-9), 1.0)
    return shape, scale, positive


def demand_quantile(demand: Demand, service_level: np.ndarray | float) -> np.ndarray:
    """``q_alpha(D)``: 0 for a product without expected demand."""
    shape, scale, positive = _gamma(demand)
    q = stats.gamma.ppf(np.broadcast_to(service_level, shape.shape), shape, scale=scale)
    return np.where(positive, q, 0.0)


def p_stockout(demand: Demand, position: np.ndarray) -> np.ndarray:
    """``P(D > position)``: the chance that demand before the next possible delivery exceeds
    what is on hand and on order (0 without expected demand)."""
    shape, scale, positive = _gamma(demand)
    return np.where(positive, stats.gamma.sf(np.maximum(np.asarray(position, dtype=float), 0.0), shape,
                                             scale=scale), 0.0)


def safety_stock(demand: Demand, service_level: np.ndarray | float) -> np.ndarray:
    return demand_quantile(demand, service_level) - np.maximum(demand.mean, 0.0)


def shrunk_rate(window: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Daily demand rate per product, shrunk towards its group's (category's) rate by
    empirical Bayes (gamma-Poisson): ``(a + units) / (b + days)`` with the group prior's
    ``a/b`` = the group's mean rate and ``a/b^2`` = the spread of rates between its products
    (method of moments). A slow mover's 28-day mean is mostly noise; the shrunk rate errs less
    in both directions, which is what lets one service level hold less stock."""
    days = window.shape[1]
    raw = window.mean(axis=1)
    if groups is None or days == 0:
        return raw
    rate = raw.copy()
    for group in np.unique(groups):
        member = groups == group
        m = raw[member].mean()
        between = raw[member].var() - m / days  # total spread minus the Poisson noise of a mean
        if member.sum() < 3 or m <= 0 or between <= 1e-12:
            continue
        a, b = m * m / between, m / between
        rate[member] = (a + window[member].sum(axis=1)) / (b + days)
    return rate


def trailing_demand(history: np.ndarray, protection_days: np.ndarray, history_days: int,
                    groups: np.ndarray | None = None) -> Demand:
    """The policy's own distribution from the last ``history_days`` of daily sales (returns
    count as no demand): rate (shrunk towards ``groups`` when given) x days, variance x days
    (days treated as independent; the daily variance is the sample's, scaled with the rate)."""
    window = np.maximum(np.nan_to_num(np.asarray(history, dtype=float)[:, -history_days:]), 0.0)
    if window.shape[1] == 0:
        zeros = np.zeros(window.shape[0])
        return Demand(zeros, zeros)
    raw = window.mean(axis=1)
    rate = shrunk_rate(window, groups)
    var = window.var(axis=1, ddof=1) if window.shape[1] > 1 else raw
    # Keep the sample's dispersion (variance / mean) at the shrunk rate; at least Poisson.
    dispersion = np.where(raw > 1e-9, var / np.maximum(raw, 1e-9), 1.0)
    var = np.maximum(dispersion, 1.0) * rate
    days = np.asarray(protection_days, dtype=float)
    return Demand(rate * days, var * days)


def from_forecast_quantiles(p10: np.ndarray, p50: np.ndarray, p90: np.ndarray,
                            protection_days: np.ndarray) -> Demand:
    """Demand over the protection period from daily forecast quantiles (products x horizon):
    per day mean by the Pearson-Tukey rule and sigma = (P90 - P10) / 2.563, summed over the
    first ``protection_days`` days (days independent); a protection period longer than the
    horizon scales the horizon's sums up."""
    p10, p50, p90 = (np.maximum(np.nan_to_num(np.asarray(a, dtype=float)), 0.0) for a in (p10, p50, p90))
    horizon = p50.shape[1]
    days = np.asarray(protection_days, dtype=float)
    take = np.arange(horizon)[None, :] < np.minimum(days, horizon)[:, None]
    w10, w50, w90 = _PT_WEIGHTS
    mean_day = w10 * p10 + w50 * p50 + w90 * p90
    var_day = np.maximum(((p90 - p10) / _P10_P90_SIGMAS) ** 2, mean_day)  # Poisson floor as above
    scale = np.maximum(days / horizon, 1.0)
    return Demand((mean_day * take).sum(axis=1) * scale, (var_day * take).sum(axis=1) * scale)


def seasonal_naive_level(history: np.ndarray, protection_days: np.ndarray, season: int = 7) -> np.ndarray:
    """Baseline order-up-to level: the seasonal-naive forecast (each day = the same weekday last
    week) summed over the protection period, no safety stock."""
    window = np.maximum(np.nan_to_num(np.asarray(history, dtype=float)[:, -season:]), 0.0)
    if window.shape[1] < season:
        window = np.pad(window, ((0, 0), (season - window.shape[1], 0)))
    days = np.asarray(protection_days, dtype=int)
    full, rest = days // season, days % season
    partial = np.concatenate([np.zeros((len(days), 1)), np.cumsum(window, axis=1)], axis=1)
    return full * window.sum(axis=1) + partial[np.arange(len(days)), rest]


def days_of_cover_level(history: np.ndarray, cover_days: float, history_days: int) -> np.ndarray:
    """Baseline order-up-to level: ``cover_days`` of the trailing mean daily demand."""
    window = np.maximum(np.nan_to_num(np.asarray(history, dtype=float)[:, -history_days:]), 0.0)
    rate = window.mean(axis=1) if window.shape[1] else np.zeros(window.shape[0])
    return cover_days * rate


def days_of_cover(on_hand: np.ndarray, demand: Demand, protection_days: np.ndarray) -> np.ndarray:
    """On hand / expected daily demand; NaN (unknown, shown as null) without expected demand."""
    daily = np.asarray(demand.mean, dtype=float) / np.maximum(np.asarray(protection_days, dtype=float), 1.0)
    return np.where(daily > 1e-9, np.asarray(on_hand, dtype=float) / np.maximum(daily, 1e-9), np.nan)


def _units(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def reason_text(p: float, target: float, protection_days: int, quantity: float, pack: int = 1, moq: int = 0,
                gap: float | None = None, policy: str | None = None, level: float | None = None) -> str:
    """What the merchandiser reads, e.g. ``P(stock-out in 9 days) 0.31 > 0.05 target; order 24 units``.

    Pack and MOQ rounding are named when they change the quantity; ``policy``/``level`` name a
    served baseline rule (its order-up-to level decides, not the probability)."""
    head = f"P(stock-out in {int(protection_days)} days) {p:.2f}"
    if policy is not None:
        rule = f"{policy}: position below order-up-to {_units(level or 0.0)}" if quantity > 0 else \
            f"{policy}: position at or above order-up-to {_units(level or 0.0)}"
        text = f"{rule}; {head} vs {target:.2f} target"
    else:
        text = f"{head} {'>' if quantity > 0 else '<='} {target:.2f} target"
    if quantity <= 0:
        return f"{text}; no order"
    text += f"; order {_units(quantity)} units"
    notes = []
    if pack > 1:
        notes.append(f"{_units(quantity / pack)} packs of {pack}")
    if moq > 0 and gap is not None and np.ceil(max(gap, 0.0) / max(pack, 1) - 1e-9) * max(pack, 1) < quantity:
        notes.append(f"MOQ {moq}")
    return text + (f" ({', '.join(notes)})" if notes else "")
