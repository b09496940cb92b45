"""Replenishment physics: one day-by-day simulation of stock, orders and lost sales.

Shared by the synthetic shop (``tasks/ingest/synthetic/inventory.py``, which plays the shop's
historic policy and plants the optimal-policy truth) and the inventory policy's evaluation
(``tasks/train/inventory_policy/evaluation.py``, which replays the holdout under every
candidate policy). One implementation, so "what the truth says" and "what the evaluation
measures" cannot drift apart. Pure numpy, no torch: the generator imports it.

A day ``t`` of the simulation, for every product at once:

1. orders due today arrive (placed ``lead`` days earlier);
2. the snapshot is taken (on hand, on order) -- this is what ``raw.inventory`` shows at 00:00;
3. on a review day the policy names an order-up-to level ``S``; when the inventory position
   (on hand + on order) is below it, an order of ``S - position`` units rounded *up* to whole
   packs, and at least the minimum order quantity, is placed (``order_quantity``);
4. demand is served from stock on hand; what stock cannot serve is lost (no backorders).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: ``level(t, position)`` -> order-up-to level per product on review day ``t`` (window day).
LevelFn = Callable[[int, np.ndarray], np.ndarray]


def order_quantity(order_up_to: np.ndarray, position: np.ndarray, pack: np.ndarray,
                   moq: np.ndarray) -> np.ndarray:
    """Units to order: 0 when the position reaches the level; else the gap rounded up to whole
    packs, and at least the MOQ (itself rounded up to whole packs: a supplier ships packs)."""
    pack = np.maximum(np.asarray(pack, dtype=float), 1.0)
    gap = np.asarray(order_up_to, dtype=float) - np.asarray(position, dtype=float)
    packs = np.ceil(np.maximum(gap, 0.0) / pack - 1e-9)
    min_packs = np.ceil(np.maximum(np.asarray(moq, dtype=float), 0.0) / pack - 1e-9)
    return np.where(gap > 1e-9, np.maximum(packs, min_packs) * pack, 0.0)


@dataclass(frozen=True)
class Replay:
    """Per product x day arrays of one simulation (all float, units)."""

    on_hand_open: np.ndarray  # after arrivals, before demand (the 00:00 snapshot)
    on_order_open: np.ndarray  # ordered, not yet arrived, at the snapshot
    ordered: np.ndarray  # units ordered that day
    sold: np.ndarray
    lost: np.ndarray
    on_hand_close: np.ndarray  # after the day's demand

    def metrics(self, days_per_year: float = 365.0) -> dict[str, float]:
        """The replay's figures (definitions in docs/inventory.md):

        - ``fill_rate``: units sold / units demanded (1.0 when nothing was demanded);
        - ``stockout_days``: product-days with demand that stock could not fully serve;
        - ``avg_inventory``: mean over days of the total closing stock (units);
        - ``turnover``: units sold / average inventory, annualised (x 365 / days);
        - ``units_lost``: demand not served.
        """
        demand = float(self.sold.sum() + self.lost.sum())
        days = self.sold.shape[1] if self.sold.ndim == 2 else 0
        avg_inventory = float(self.on_hand_close.sum(axis=0).mean()) if days else 0.0
        sold = float(self.sold.sum())
        turnover = sold / avg_inventory * days_per_year / days if avg_inventory > 0 and days else 0.0
        return {"fill_rate": sold / demand if demand > 0 else 1.0,
                "stockout_days": float((self.lost > 1e-9).sum()),
                "avg_inventory": avg_inventory, "turnover": turnover, "units_lost": float(self.lost.sum()),
                "units_demanded": demand, "n_products": float(self.sold.shape[0]), "n_days": float(days)}


def simulate(demand: np.ndarray, lead: np.ndarray, pack: np.ndarray, moq: np.ndarray, level: LevelFn,
             start_on_hand: np.ndarray, review_days: int = 7, review_offset: np.ndarray | None = None,
             ) -> Replay:
    """Play ``demand`` (products x days, negative values = returns, treated as no demand) under
    the policy ``level``; a product is reviewed on days with ``(t + offset) % review_days == 0``
    (offset 0 for all: everyone reviewed on day 0, then every ``review_days``)."""
    demand = np.maximum(np.nan_to_num(np.asarray(demand, dtype=float)), 0.0)
    n, days = demand.shape
    lead = np.maximum(np.asarray(lead, dtype=int), 1)
    offset = np.zeros(n, dtype=int) if review_offset is None else np.asarray(review_offset, dtype=int)
    pipeline = np.zeros((n, days + int(lead.max(initial=1)) + 1))
    on_hand = np.maximum(np.asarray(start_on_hand, dtype=float), 0.0).copy()
    out = {k: np.zeros((n, days)) for k in ("open", "on_order", "ordered", "sold", "lost", "close")}
    rows = np.arange(n)
    for t in range(days):
        on_hand += pipeline[:, t]
        pipeline[:, t] = 0.0
        on_order = pipeline[:, t + 1:].sum(axis=1)
        out["open"][:, t] = on_hand
        out["on_order"][:, t] = on_order
        reviewed = (t + offset) % review_days == 0
        if reviewed.any():
            position = on_hand + on_order
            target = np.asarray(level(t, position), dtype=float)
            q = np.where(reviewed, order_quantity(target, position, pack, moq), 0.0)
            pipeline[rows, t + lead] += q
            out["ordered"][:, t] = q
        sold = np.minimum(on_hand, demand[:, t])
        on_hand -= sold
        out["sold"][:, t] = sold
        out["lost"][:, t] = demand[:, t] - sold
        out["close"][:, t] = on_hand
    return Replay(out["open"], out["on_order"], out["ordered"], out["sold"], out["lost"], out["close"])
