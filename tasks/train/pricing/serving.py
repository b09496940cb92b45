"""Recommendation rows of what a registered version serves (its learned slope or a baseline's).

Used by ``tasks/score/price_recommendations.py``. The current price is the price shown on the
panel's last day (``raw.prices`` when the source has it, else the last observed unit price);
a product on promotion that day keeps its price (a promotion is a separate decision, and
its price is not the one to move).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.train.common import Artefact, config_from_dict
from tasks.train.pricing.config import PricingConfig
from tasks.train.pricing.model import load_parameters
from tasks.train.pricing.panel import PricePanel
from tasks.train.pricing.policy import recommend
from tasks.train.pricing.recipe import slope_of

COLUMNS = ("product_id", "category", "current_price", "recommended_price", "price_change_pct", "elasticity",
           "elasticity_se", "expected_units_current", "expected_units_recommended", "expected_revenue_current",
           "expected_revenue_recommended", "objective", "action", "reason")


def recommendation_frame(art: Artefact, panel: PricePanel) -> pd.DataFrame:
    """One row per product the version was fitted on and that still has a known price."""
    cfg = config_from_dict(PricingConfig, art.config)
    params = load_parameters(art.state_dict).of(slope_of(art.serving_strategy))
    trained = [str(p) for p in art.preprocessing["products"]]
    return recommend_panel(params, trained, list(art.preprocessing["categories"]), panel, cfg)


ORDER_PRICE_REASON = ("prices come from order lines only (no price list): realised unit prices move with "
                      "the quantity ordered, so the elasticity is not trusted; keep price")


def recommend_panel(params: dict[str, np.ndarray], trained: list[str], categories: list[str], panel: PricePanel,
                    cfg: PricingConfig) -> pd.DataFrame:
    """Rows for every trained product in ``panel`` from one slope structure's parameters (``a``,
    ``beta``, ``beta_se``, ``ref_log_price``, ``level``), in ``trained`` order."""
    category_of = dict(zip(trained, categories, strict=True))
    position = {p: i for i, p in enumerate(panel.products)}
    level = float(params["level"])
    rows = []
    for i, product in enumerate(trained):
        j = position.get(product)
        if j is None:
            continue
        known = np.flatnonzero(np.isfinite(panel.log_price[j]))
        if len(known) == 0:
            continue
        current = round(float(np.exp(panel.log_price[j, known[-1]])), 2)
        beta, se = float(params["beta"][i]), float(params["beta_se"][i])
        q0 = float(np.exp(params["a"][i] + level + beta * (np.log(current) - params["ref_log_price"][i])))
        cost = float(panel.cost[j]) if np.isfinite(panel.cost[j]) else None
        if panel.price_source == "order_lines" and not cfg.recommend_on_order_prices:
            price, action, objective, reason = current, "keep", cfg.objective, ORDER_PRICE_REASON
        elif panel.promo[j, known[-1]]:
            price, action, objective = current, "keep", cfg.objective
            reason = f"on promotion at {current:.2f}: no list-price change until the promotion ends"
        else:
            rec = recommend(current, q0, beta, se, cfg, cost)
            price, action, objective, reason = rec.price, rec.action, rec.objective, rec.reason
        q1 = q0 * (price / current) ** beta
        rows.append({"product_id": product, "category": category_of.get(product) or None,
                     "current_price": current, "recommended_price": price,
                     "price_change_pct": 100.0 * (price / current - 1.0), "elasticity": beta,
                     "elasticity_se": se, "expected_units_current": q0, "expected_units_recommended": q1,
                     "expected_revenue_current": current * q0, "expected_revenue_recommended": price * q1,
                     "objective": objective, "action": action, "reason": reason})
    return pd.DataFrame(rows, columns=list(COLUMNS))
