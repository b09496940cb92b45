"""The inventory policy's names, tables and typed config (``InventoryConfig``).

Kept apart so scoring and tests read settings without the evaluation code. The config is a
frozen dataclass validated by pydantic when read from a file (``config_from_dict``), like every
model's config: an unknown key is an error that names it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.train.common import TrainConfig, _check

MODEL_NAME = "inventory_policy"
#: Holdout turnover, counted only when the candidate's fill rate is at least the best baseline's
#: (``evaluation.turnover_at_fill``); higher is better.
MAIN_METRIC = "turnover_at_fill"
LEARNED = "policy"
#: The baselines, in the order ``ecomflow evaluate`` prints them.
BASELINES = ("days_of_cover", "order_up_to_seasonal_naive")
#: Daily sales (demand) per product; the same partition the demand forecaster trains on.
FEATURE_TABLE = "features.daily_item_sales"
INVENTORY_TABLE = "raw.inventory"
ITEM_TABLE = "features.item_features"
FORECAST_TABLE = "serving.demand_forecasts"
DEFAULT_CATEGORY = "__default__"
#: Candidate default service levels for the validation calibration (0.50, 0.52, ..., 0.98, then the tail).
SERVICE_LEVEL_GRID = tuple(round(0.5 + 0.02 * i, 2) for i in range(25)) + (0.99, 0.995, 0.999)


@dataclass(frozen=True)
class InventoryConfig(TrainConfig):
    """Policy settings. ``service_level`` is the target probability of *no* stock-out before the
    next delivery can arrive (cycle service level); ``category_service_levels`` overrides it per
    category (``[[category, level], ...]``) and is never re-tuned. With ``calibrate_service_level``
    the default level is instead the lowest one of ``SERVICE_LEVEL_GRID`` whose replay on the
    validation slice (the ``holdout_days`` before the holdout) fills at least as well as the best
    baseline there (+ ``fill_margin``): "as available as the best rule, with less stock"."""

    epochs: int = 1  # no gradient training; kept for the shared config shape
    service_level: float = 0.95
    category_service_levels: tuple[tuple[str, float], ...] = ()
    calibrate_service_level: bool = True
    fill_margin: float = 0.002
    review_days: int = 7
    history_days: int = 28  # trailing window of the policy's own demand distribution
    shrink_to_category: bool = True  # empirical-Bayes rate per product (policy.shrunk_rate)
    holdout_days: int = 28
    min_history_days: int = 14
    use_forecaster_quantiles: bool = True
    # Baselines.
    cover_days: float = 21.0  # days-of-cover rule: order up to cover_days x trailing mean daily demand
    # Defaults for sources whose inventory lacks the replenishment columns.
    default_lead_time_days: int = 7
    default_pack_size: int = 1
    default_moq: int = 0

    def validate(self) -> None:
        super().validate()
        _check(0.0 < self.service_level < 1.0, "service_level must be in (0, 1)")
        for category, level in self.category_service_levels:
            _check(0.0 < float(level) < 1.0, f"category_service_levels[{category!r}] must be in (0, 1)")
        _check(0.0 <= self.fill_margin < 0.5, "fill_margin must be in [0, 0.5)")
        _check(self.review_days >= 1, "review_days must be >= 1")
        _check(self.history_days >= 7, "history_days must be >= 7 (one week)")
        _check(self.holdout_days >= self.review_days, "holdout_days must be >= review_days")
        _check(self.min_history_days >= 7, "min_history_days must be >= 7")
        _check(self.cover_days > 0, "cover_days must be > 0")
        _check(self.default_lead_time_days >= 1 and self.default_pack_size >= 1 and self.default_moq >= 0,
               "default lead time and pack size must be >= 1, default_moq >= 0")

    def category_levels(self) -> dict[str, float]:
        return {str(c): float(level) for c, level in self.category_service_levels}
