"""Inventory replenishment policy: per product and day, how much to order so that stock
lasts until the next delivery with a chosen probability, with as little stock as that needs.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.inventory_policy import train; \
               print(train(date(2026, 3, 2), 'manual'))"

1. Data (``data``): daily units per product (``features.daily_item_sales`` + the marts history,
   as the demand forecaster reads them; store-level sales summed per product), and the latest
   ``raw.inventory`` snapshot per product before the as-of instant: stock, on order, lead time,
   pack size, MOQ (config defaults for sources without the last four). Products = those with
   a snapshot. Sales must be daily (a weekly/monthly source is skipped with the reason).
2. Policy (``policy``): periodic review every ``review_days``; demand over the protection
   period (lead time + review) is a gamma matched to the trailing mean/variance of daily
   sales (or, at scoring, to the forecaster's P10/P50/P90); reorder point = its service-level
   quantile; order up to it in whole packs, at least the MOQ.
3. Windows (``evaluation.windows``): holdout = the last ``holdout_days`` days; validation =
   the same length before it. The default service level is the lowest on a grid whose
   validation replay fills at least as well as the best baseline's (``calibrate``); per-category
   levels from the config are kept as given.
4. Evaluation (``evaluation``): replay the holdout's actual demand under the policy and both
   baselines (``days_of_cover``: up to ``cover_days`` x trailing mean; ``order_up_to_seasonal_naive``:
   up to the seasonal-naive forecast of the protection period) -> fill rate, stock-out days,
   average inventory, turnover, units lost; main metric ``turnover_at_fill``.
5. Register through the shared promotion gate (``recipe.save_and_register``); a baseline that
   beats the policy on the holdout is registered and served instead (docs/CONTRACTS.md).

Scoring (``tasks/score/inventory_actions.py``, after the day's demand forecasts) writes one
action per product with a readable reason (``serving.inventory_actions``).
"""

from __future__ import annotations

from tasks.train.inventory_policy.config import (
    BASELINES,
    FEATURE_TABLE,
    INVENTORY_TABLE,
    LEARNED,
    MAIN_METRIC,
    MODEL_NAME,
    InventoryConfig,
)
from tasks.train.inventory_policy.evaluation import PolicySpec, evaluate_candidates, replay_metrics
from tasks.train.inventory_policy.recipe import Fitted, fit_and_evaluate, train

__all__ = ["BASELINES", "FEATURE_TABLE", "Fitted", "INVENTORY_TABLE", "InventoryConfig", "LEARNED", "MAIN_METRIC",
           "MODEL_NAME", "PolicySpec", "evaluate_candidates", "fit_and_evaluate", "replay_metrics", "train"]
