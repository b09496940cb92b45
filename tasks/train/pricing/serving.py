"""Recommendation rows of what a registered version serves (its learned slope or a baseline's).

Used by ``tasks/score/price_recommendations.py``. The current price is the price shown on the
panel's last day (``raw.prices`` when the source has it, else the last observed unit price);
a product on promotion that day keeps its price (a promotion is a separate decision, and
its price is not the one to move).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from tasks.train.common import Artefact, config_from_dict
from tasks.train.pricing.config import PricingConfig
from tasks.train.pricing.model import load_parameters
from tasks.train.pricing.panel import PricePanel
from tasks.train.pricing.policy import recommend
from tasks.train.pricing.recipe import slope_of

log = logging.getLogger(__name__)

COLUMNS = ("product_id", "category", "current_price", "recommended_price", "price_change_pct", "elasticity",
           "elasticity_se", "expected_units_current", "expected_units_recommended", "expected_revenue_current",
           "expected_revenue_recommended", "objective", "action", "reason")


def recommendation_frame(art: Artefact, panel: PricePanel) -> pd.DataFrame:
    """One row per product the version was fitted on and that still has a known price above 0.00
    (as shown, to the cent); the others are counted in the log."""
    cfg = config_from_dict(PricingConfig, art.config)
    params = load_parameters(art.state_dict).of(slope_of(art.serving_strategy))
    trained = [str(p) for p in art.preprocessing["products"]]
    return recommend_panel(params, trained, list(art.preprocessing["categories"]), panel, cfg)


ORDER_PRICE_REASON = ("prices come from order lines only (no price list): realised unit prices move with "
                      "the quantity ordered, so the elasticity is not trusted; keep price")


def recommend_panel(params: dict[str, np.ndarray], trained: list[str], categories: list[str], panel: PricePanel,
                    cfg: PricingConfig) -> pd.DataFrame:
    """Rows for every trained product in ``panel`` from one slope structure's parameters (``a``,
    ``beta``, ``beta_se``, ``ref_log_price``, ``level`` and, for the cannibalisation term, ``share``,
    ``gamma``, ``gamma_se``), in ``trained`` order."""
    category_of = dict(zip(trained, categories, strict=True))
    position = {p: i for i, p in enumerate(panel.products)}
    level = float(params["level"])
    # gamma: the model's one shop-wide slope, or (a check's oracle) one per product.
    gammas = np.broadcast_to(np.asarray(params.get("gamma", 0.0), dtype=float), (len(trained),))
    gamma_se = float(np.max(params.get("gamma_se", 0.0)))
    share = np.asarray(params.get("share", np.zeros(len(trained))), dtype=float)
    current_prices, q0s, costs = _current_state(params, trained, panel, position, level, gammas, share, categories)
    # Siblings' objective value at current prices: the category's total minus the product's own
    # (their margin when the objective is margin and their cost is known, else their revenue).
    unit_cost = np.array([c if c is not None and cfg.objective == "margin" else 0.0 for c in costs])
    own_value = np.nan_to_num(q0s * (current_prices - unit_cost))
    cat_codes = {c: k for k, c in enumerate(sorted(set(categories)))}
    codes = np.array([cat_codes[c] for c in categories])
    cat_value = np.bincount(codes, weights=own_value, minlength=len(cat_codes))
    rows = []
    for i, product in enumerate(trained):
        j = position.get(product)
        if j is None or not np.isfinite(current_prices[i]):
            continue
        known = np.flatnonzero(np.isfinite(panel.log_price[j]))
        current, q0 = float(current_prices[i]), float(q0s[i])
        beta, se = float(params["beta"][i]), float(params["beta_se"][i])
        cost = costs[i]
        if panel.price_source == "order_lines" and not cfg.recommend_on_order_prices:
            price, action, objective, reason = current, "keep", cfg.objective, ORDER_PRICE_REASON
        elif panel.promo[j, known[-1]]:
            price, action, objective = current, "keep", cfg.objective
            reason = f"on promotion at {current:.2f}: no list-price change until the promotion ends"
        else:
            rec = recommend(current, q0, beta, se, cfg, cost, share=float(share[i]), gamma=float(gammas[i]),
                            gamma_se=gamma_se, sibling_value=float(cat_value[codes[i]] - own_value[i]))
            price, action, objective, reason = rec.price, rec.action, rec.objective, rec.reason
        q1 = q0 * (price / current) ** (beta + float(gammas[i]) * float(share[i]))
        rows.append({"product_id": product, "category": category_of.get(product) or None,
                     "current_price": current, "recommended_price": price,
                     "price_change_pct": 100.0 * (price / current - 1.0),
                     "elasticity": beta + float(gammas[i]) * float(share[i]),
                     "elasticity_se": se, "expected_units_current": q0, "expected_units_recommended": q1,
                     "expected_revenue_current": current * q0, "expected_revenue_recommended": price * q1,
                     "objective": objective, "action": action, "reason": reason})
    if len(rows) < len(trained):
        log.info("price recommendations: %d of %d trained products have no current price above 0.00 "
                 "(never priced, gone from the panel, or shown as 0.00): no row for them",
                 len(trained) - len(rows), len(trained))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _current_state(params: dict[str, np.ndarray], trained: list[str], panel: PricePanel, position: dict[str, int],
                   level: float, gammas: np.ndarray, share: np.ndarray,
                   categories: list[str]) -> tuple[np.ndarray, np.ndarray, list[float | None]]:
    """Per trained product: current price (NaN when never priced), expected units per day at the
    current prices of it and its siblings, unit cost (None when unknown)."""
    n = len(trained)
    current = np.full(n, np.nan)
    costs: list[float | None] = [None] * n
    for i, product in enumerate(trained):
        j = position.get(product)
        if j is None:
            continue
        known = np.flatnonzero(np.isfinite(panel.log_price[j]))
        if len(known):
            shown = round(float(np.exp(panel.log_price[j, known[-1]])), 2)
            # A price that shows as 0.00 (UCI Online Retail sells lines at 0.001) has no
            # percentage to move by, and every ratio to it divides by zero: unpriced, like none.
            current[i] = shown if shown > 0 else np.nan
        if np.isfinite(panel.cost[j]):
            costs[i] = float(panel.cost[j])
    x = np.where(np.isfinite(current), np.log(np.where(np.isfinite(current), current, 1.0)) - params["ref_log_price"],
                 0.0)
    index = np.zeros(n)
    if gammas.any():
        codes = {c: k for k, c in enumerate(sorted(set(categories)))}
        cats = np.array([codes[c] for c in categories])
        per_category = np.bincount(cats, weights=share * x, minlength=len(codes))
        index = per_category[cats]
    q0 = np.exp(params["a"] + level + params["beta"] * x + gammas * index)
    return current, q0, costs
