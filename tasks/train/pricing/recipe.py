"""The pricing recipe: sales + shown prices -> holdout -> hierarchical GLM vs baselines -> register.

Steps and reasons are in the package docstring (``tasks/train/pricing/__init__.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from tasks.train.common import Artefact, DataWindow, TrainResult, as_of_instant, config_from_dict
from tasks.train.pricing.config import (
    BASELINES,
    FEATURE_TABLE,
    LEARNED,
    MAIN_METRIC,
    MODEL_NAME,
    PricingConfig,
)
from tasks.train.pricing.data import read_panel
from tasks.train.pricing.elasticity import ElasticityFit, fit_elasticity
from tasks.train.pricing.evaluation import holdout_metrics
from tasks.train.pricing.model import PricingParameters
from tasks.train.pricing.panel import PricePanel, has_price_variation
from tasks.train.recipe import ServableBaseline, save_and_register

log = logging.getLogger(__name__)

#: candidate name -> slope structure (elasticity.SLOPES)
CANDIDATES = {LEARNED: "hierarchical", **{name: name for name in BASELINES}}


def slope_of(strategy: str) -> str:
    """``learned`` / ``baseline:<name>`` -> the slope structure that version serves."""
    return CANDIDATES[strategy.split(":", 1)[1]] if strategy.startswith("baseline:") else "hierarchical"


@dataclass
class Fitted:
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    holdout_fits: dict[str, ElasticityFit]
    full_fits: dict[str, ElasticityFit]
    extra: dict[str, Any] = field(default_factory=dict)


def _fit(panel: PricePanel, upto: int, slope: str, cfg: PricingConfig) -> ElasticityFit:
    return fit_elasticity(panel, upto, slope, prior_sd_category=cfg.prior_sd_category,
                          prior_sd_product=cfg.prior_sd_product, day_effects=cfg.day_effects,
                          max_iter=cfg.max_iter, cannibalisation=cfg.cannibalisation and slope == "hierarchical",
                          prior_sd_gamma=cfg.prior_sd_gamma)


def check_trainable(panel: PricePanel, cfg: PricingConfig) -> None:
    """Raise ValueError (-> skipped with that reason) when the panel cannot identify elasticity."""
    if panel.n_days < cfg.min_train_days + cfg.holdout_days:
        raise ValueError(f"only {panel.n_days} days of sales (< min_train_days {cfg.min_train_days} + "
                         f"holdout_days {cfg.holdout_days})")
    if not np.isfinite(panel.log_price).any():
        raise ValueError("the source has no prices (no raw.prices rows, no unit prices on sales)")
    if not has_price_variation(panel, panel.n_days - cfg.holdout_days):
        raise ValueError("no product's price changed before the holdout: elasticity is not identifiable")


def fit_and_evaluate(panel: PricePanel, cfg: PricingConfig) -> Fitted:
    """Fit every candidate on the days before the holdout and score it there; then refit each on the
    whole window (what scoring uses: the recent promotions and levels)."""
    check_trainable(panel, cfg)
    upto = panel.n_days - cfg.holdout_days
    holdout_fits = {name: _fit(panel, upto, slope, cfg) for name, slope in CANDIDATES.items()}
    scored = {name: holdout_metrics(fit, panel, cfg.recent_days) for name, fit in holdout_fits.items()}
    full_fits = {slope: _fit(panel, panel.n_days, slope, cfg) for slope in CANDIDATES.values()}
    learned = full_fits["hierarchical"]
    extra = {"n_products": len(panel.products), "n_days": panel.n_days, "holdout_days": cfg.holdout_days,
             "n_categories": len(learned.category_names),
             "category_elasticity": dict(zip(learned.category_names, learned.category_beta.round(4).tolist(),
                                             strict=True)),
             "median_elasticity_se": float(np.median(learned.beta_se)) if len(learned.beta_se) else None,
             "cannibalisation_gamma": learned.gamma, "cannibalisation_gamma_se": learned.gamma_se}
    log.info("pricing (%d products, %d days): model %s; baselines %s", len(panel.products), panel.n_days,
             scored[LEARNED], {k: v for k, v in scored.items() if k != LEARNED})
    return Fitted(scored[LEARNED], {k: v for k, v in scored.items() if k != LEARNED}, holdout_fits, full_fits, extra)


def train(as_of_date: date, run_id: str, cfg: PricingConfig | None = None) -> TrainResult:
    """Recipe: panel -> holdout -> hierarchical GLM vs baselines -> register (servable baselines)."""
    cfg = cfg or PricingConfig()
    panel, found, sales = read_panel(as_of_date, cfg.max_history_days)
    if panel is None or found is None:
        return TrainResult.skipped(MODEL_NAME, f"no {FEATURE_TABLE} partition at or before {as_of_date}")
    window = DataWindow(as_of_instant(panel.dates[0]), as_of_instant(found))
    try:
        fitted = fit_and_evaluate(panel, cfg)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        """The champion's recipe (its config and served slope) refitted on the new training days
        and scored on the new holdout: its stored fit has seen some of those days."""
        champ_cfg = config_from_dict(PricingConfig, art.config)
        fit = _fit(panel, panel.n_days - cfg.holdout_days, slope_of(art.serving_strategy), champ_cfg)
        return holdout_metrics(fit, panel, champ_cfg.recent_days)

    params = PricingParameters(fitted.full_fits, cfg.recent_days)
    learned = fitted.full_fits["hierarchical"]
    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window, model=params,
        preprocessing={"features": ["log_price_vs_usual", "product_effect", "day_effect"],
                       "products": [str(p) for p in panel.products],
                       "categories": [str(c) for c in panel.categories],
                       "category_names": learned.category_names, "price_source": panel.price_source,
                       "first_date": panel.dates[0].isoformat(), "last_date": panel.dates[-1].isoformat()},
        metrics=fitted.metrics, baselines=fitted.baselines, main_metric=MAIN_METRIC, higher_is_better=False,
        evaluate_champion=evaluate_champion,
        servable=[ServableBaseline(name) for name in BASELINES],
        training_inputs={"sales": sales}, extra_metrics={"feature_partition": found.isoformat(), **fitted.extra})
