"""Price recommendations: own-price elasticity per product (shrunk to its category) from the
price variation in history, and a guardrailed price that maximises expected revenue or margin.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.pricing import train; \
               print(train(date(2024, 1, 31), 'manual'))"

1. Data (``data.read_panel``): units per product and day from the ``features.daily_item_sales``
   partition valid at ``as_of_date`` (+ the mart history, up to ``max_history_days``), the
   price *shown* each day from ``raw.prices`` (so days without a sale have a price too; else the
   last observed unit price), categories from ``features.item_features``, a unit cost when
   ``raw.products`` has one. No prices or no price change before the holdout: skipped with that
   reason.
2. Holdout: the last ``holdout_days`` days; every candidate is fitted on the days before.
3. Model (``elasticity``): Poisson GLM with product and day fixed effects and a hierarchical
   slope ``beta_p = b + b_category + u_product`` (normal priors = shrinkage), MAP by LBFGS;
   Laplace standard errors. Day effects are the confounding control (promotions put on busy
   days would otherwise look like elasticity).
4. Baselines, same GLM and holdout: ``no_elasticity`` (price ignored), ``global_elasticity``
   (one slope), ``category_elasticity`` (one slope per category, the "category average").
5. Metrics (``evaluation``): WAPE of units at the shown prices (main), WAPE on price-changed
   days, Poisson deviance. Elasticity recovery against the synthetic shop's planted truth is
   measured in tests and docs/pricing.md (the recipe never sees the truth).
6. Register through the shared gate (``recipe.save_and_register``); the artefact holds every
   candidate refitted on the whole window, so a winning baseline is served from it.
7. Serving (``serving.recommendation_frame``, ``policy.recommend``): per product the current
   price, the recommended price within guardrails, expected units and revenue at both, and a
   readable reason. docs/pricing.md has the figures and the caveats.
"""

from __future__ import annotations

from tasks.train.pricing.config import (
    BASELINES,
    FEATURE_TABLE,
    LEARNED,
    MAIN_METRIC,
    MODEL_NAME,
    PricingConfig,
)
from tasks.train.pricing.elasticity import ElasticityFit, fit_elasticity
from tasks.train.pricing.panel import PricePanel, daily_prices, to_price_panel
from tasks.train.pricing.policy import Recommendation, candidate_prices, recommend
from tasks.train.pricing.recipe import fit_and_evaluate, train
from tasks.train.pricing.serving import recommendation_frame

__all__ = [
    "BASELINES",
    "FEATURE_TABLE",
    "LEARNED",
    "MAIN_METRIC",
    "MODEL_NAME",
    "ElasticityFit",
    "PricePanel",
    "PricingConfig",
    "Recommendation",
    "candidate_prices",
    "daily_prices",
    "fit_and_evaluate",
    "fit_elasticity",
    "recommend",
    "recommendation_frame",
    "to_price_panel",
    "train",
]
