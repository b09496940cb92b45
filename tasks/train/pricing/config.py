"""Names, tables and the typed config of the pricing model (``PricingConfig``).

Kept apart so scoring, evaluation and tests can read settings without the fitting code.
The config is a frozen dataclass validated like every model config (``TrainConfig``):
``config_from_dict`` checks a stored ``config.json`` with pydantic, so an unknown or
mistyped key is an error that names its path.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.train.common import TrainConfig, _check

MODEL_NAME = "pricing"
MAIN_METRIC = "wape"
LEARNED = "model"
#: Units per product and day (dense over the feature window) and the history mart behind it.
FEATURE_TABLE = "features.daily_item_sales"
#: Price changes (listing, promotion start/end): the shown price on days without a sale.
PRICES_TABLE = "raw.prices"
#: Candidate slope structures, from none to the learned hierarchical one (``elasticity.SLOPES``).
BASELINES = ("no_elasticity", "global_elasticity", "category_elasticity")
OBJECTIVES = ("revenue", "margin")
#: Product columns that may carry a unit cost (first present wins); none in the canonical schema yet.
COST_COLUMNS = ("unit_cost", "cost")


@dataclass(frozen=True)
class PricingConfig(TrainConfig):
    """Estimation, holdout and guardrail settings.

    Estimation: a Poisson GLM ``log E[units] = a_product + g_day + beta_product * log(price/ref)``
    with ``beta_product = b_global + b_category + u_product`` and normal priors on the
    category and product deviations (``prior_sd_*``): the MAP fit is a hierarchical,
    shrunk log-log regression. Day effects absorb traffic, seasonality and any promotion
    calendar that follows them (``day_effects=False`` exists only to show that confounding).

    Guardrails (``policy.recommend``): at most ``max_change`` up or down per step, prices
    ending in ``price_ending`` (None: any cent), at least ``min_margin`` over a known unit
    cost, no change when ``elasticity_se > max_elasticity_se`` or when the change loses
    ``objective`` at either end of the ``ci_z`` interval, or gains less than ``min_gain``.
    """

    epochs: int = 1  # unused by the GLM (LBFGS to convergence); kept for the shared config fields
    max_iter: int = 100
    holdout_days: int = 14
    max_history_days: int = 120
    min_train_days: int = 21
    prior_sd_category: float = 1.0
    prior_sd_product: float = 0.5
    day_effects: bool = True
    #: Learned model only: a shop-wide slope on the category's price index, so a cut that only takes
    #: units from siblings is seen as such (docs/pricing.md, "cannibalisation").
    cannibalisation: bool = True
    prior_sd_gamma: float = 2.0
    objective: str = "revenue"
    max_change: float = 0.10
    price_ending: float | None = 0.99
    min_margin: float = 0.15
    max_elasticity_se: float = 1.0
    ci_z: float = 1.645
    min_gain: float = 0.01
    recent_days: int = 7  # day effect for "tomorrow": mean of the last days' effects
    #: Recommend changes when the only prices are realised unit prices (no price list)? Off: on
    #: such data (UCI Online Retail) the unit price falls with the quantity ordered (bulk tiers),
    #: so units "cause" price and the slope is not a demand response (docs/pricing.md).
    recommend_on_order_prices: bool = False

    def validate(self) -> None:
        super().validate()
        _check(self.max_iter >= 1, "max_iter must be >= 1")
        _check(self.holdout_days >= 1, "holdout_days must be >= 1")
        _check(self.min_train_days >= 2, "min_train_days must be >= 2")
        _check(self.max_history_days >= self.min_train_days + self.holdout_days,
               "max_history_days must be >= min_train_days + holdout_days")
        _check(self.prior_sd_category > 0 and self.prior_sd_product > 0 and self.prior_sd_gamma > 0,
               "prior_sd_* must be > 0")
        _check(self.objective in OBJECTIVES, f"objective must be one of {OBJECTIVES}")
        _check(0 < self.max_change < 1, "max_change must be in (0, 1)")
        _check(self.price_ending is None or 0 <= self.price_ending < 1, "price_ending must be in [0, 1)")
        _check(self.min_margin >= 0, "min_margin must be >= 0")
        _check(self.max_elasticity_se > 0 and self.ci_z >= 0, "max_elasticity_se > 0 and ci_z >= 0")
        _check(self.min_gain >= 0, "min_gain must be >= 0")
        _check(self.recent_days >= 1, "recent_days must be >= 1")
