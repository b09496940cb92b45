"""Evaluation by replay: play the holdout's actual demand (and each product's lead time,
pack and MOQ) under each candidate policy with ``tasks.replenishment.simulate``.

Every candidate starts the window holding its own order-up-to level with nothing on order
(as if it had been running), is reviewed every ``review_days`` from the window's first day,
and sees on each review day only the sales before that day. Metrics: fill rate, stock-out
days, average inventory, annualised turnover, units lost (``Replay.metrics``).

Main metric ``turnover_at_fill``: the candidate's turnover when its fill rate is at least the
*reference fill rate* -- the highest fill rate any baseline reaches on the same replay -- and
0 otherwise. Turnover alone rewards starving the shelves; fill alone rewards hoarding; this
asks "more turns at no less availability than the best rule". The baseline that sets the
reference scores its own turnover, the others 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tasks.replenishment import LevelFn, simulate
from tasks.train.inventory_policy.config import (
    BASELINES,
    DEFAULT_CATEGORY,
    LEARNED,
    MAIN_METRIC,
    SERVICE_LEVEL_GRID,
    InventoryConfig,
)
from tasks.train.inventory_policy.data import DemandHistory, NotApplicable, Parameters
from tasks.train.inventory_policy.policy import (
    days_of_cover_level,
    demand_quantile,
    seasonal_naive_level,
    trailing_demand,
)


@dataclass(frozen=True)
class PolicySpec:
    """What a registered version serves: the strategy and, for the learned policy, its levels."""

    strategy: str = LEARNED  # LEARNED or a baseline name
    service_level: float = 0.95
    category_levels: dict[str, float] = field(default_factory=dict)

    def service_levels(self, category: np.ndarray) -> np.ndarray:
        return np.array([self.category_levels.get(str(c), self.service_level) for c in category], dtype=float)

    def to_preprocessing(self) -> dict[str, object]:
        return {"policy": self.strategy, "service_level": self.service_level,
                "category_service_levels": {DEFAULT_CATEGORY: self.service_level, **self.category_levels}}

    @classmethod
    def from_artefact(cls, preprocessing: dict, serving_strategy: str) -> PolicySpec:
        strategy = serving_strategy.split(":", 1)[1] if serving_strategy.startswith("baseline:") else LEARNED
        levels = dict(preprocessing.get("category_service_levels") or {})
        default = float(levels.pop(DEFAULT_CATEGORY, preprocessing.get("service_level", 0.95)))
        return cls(strategy, default, {str(k): float(v) for k, v in levels.items()})


def order_up_to(spec: PolicySpec, history: np.ndarray, params: Parameters, cfg: InventoryConfig) -> np.ndarray:
    """The candidate's order-up-to level per product from the sales history it may see."""
    protection = params.lead + cfg.review_days
    if spec.strategy == LEARNED:
        demand = trailing_demand(history, protection, cfg.history_days,
                                 params.category if cfg.shrink_to_category else None)
        return demand_quantile(demand, spec.service_levels(params.category))
    if spec.strategy == "days_of_cover":
        return days_of_cover_level(history, cfg.cover_days, cfg.history_days)
    if spec.strategy == "order_up_to_seasonal_naive":
        return seasonal_naive_level(history, protection)
    raise ValueError(f"unknown inventory policy {spec.strategy!r} (one of {(LEARNED, *BASELINES)})")


def replay_metrics(spec: PolicySpec, demand: DemandHistory, params: Parameters, cfg: InventoryConfig,
                   start: int, days: int) -> dict[str, float]:
    """Replay window days ``[start, start + days)`` (indices into ``demand``) under ``spec``."""
    units = demand.units

    def level(t: int, position: np.ndarray) -> np.ndarray:
        return order_up_to(spec, units[:, : start + t], params, cfg)

    fn: LevelFn = level
    rep = simulate(units[:, start: start + days], params.lead, params.pack, params.moq, fn,
                   np.ceil(level(0, np.zeros(len(units)))), review_days=cfg.review_days)
    return rep.metrics()


def with_main_metric(metrics: dict[str, float], baselines: dict[str, dict[str, float]]) -> dict[str, float]:
    """``metrics`` plus ``reference_fill_rate`` and ``turnover_at_fill`` (module docstring)."""
    reference = max((b["fill_rate"] for b in baselines.values()), default=0.0)
    meets = metrics["fill_rate"] >= reference - 1e-12
    return {**metrics, "reference_fill_rate": reference, MAIN_METRIC: metrics["turnover"] if meets else 0.0}


def evaluate_candidates(spec: PolicySpec, demand: DemandHistory, params: Parameters, cfg: InventoryConfig,
                        start: int, days: int) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(the learned policy's metrics, each baseline's) on one replay window, main metric included."""
    raw = {name: replay_metrics(PolicySpec(name), demand, params, cfg, start, days) for name in BASELINES}
    baselines = {name: with_main_metric(m, raw) for name, m in raw.items()}
    return with_main_metric(replay_metrics(spec, demand, params, cfg, start, days), raw), baselines


@dataclass(frozen=True)
class Windows:
    """Day indices of the validation slice (service-level choice) and the holdout."""

    validation_start: int | None
    holdout_start: int
    days: int


def windows(n_days: int, cfg: InventoryConfig) -> Windows:
    """Holdout = the last ``holdout_days`` (fewer on short data, never under two review periods);
    validation = the same length before it, when the data also leaves ``min_history_days`` of
    history before that; else no validation (the configured service level is kept)."""
    days = min(cfg.holdout_days, (n_days - cfg.min_history_days) // 2)
    if days < 2 * cfg.review_days:
        days = min(cfg.holdout_days, n_days - cfg.min_history_days)
        if days < 2 * cfg.review_days:
            raise NotApplicable(f"only {n_days} days of sales: the replay needs min_history_days="
                                f"{cfg.min_history_days} + two review periods ({2 * cfg.review_days} days)")
        return Windows(None, n_days - days, days)
    return Windows(n_days - 2 * days, n_days - days, days)


def calibrate(demand: DemandHistory, params: Parameters, cfg: InventoryConfig, win: Windows) -> tuple[PolicySpec, dict]:
    """The learned policy's spec: configured category levels; the default level is the lowest of
    ``SERVICE_LEVEL_GRID`` that fills at least as well as the best baseline on the validation
    slice (+ ``fill_margin``), when calibration is on and a validation slice exists."""
    configured = cfg.category_levels()
    if not cfg.calibrate_service_level or win.validation_start is None:
        why = "calibration off" if not cfg.calibrate_service_level else "no validation slice (short data)"
        return PolicySpec(LEARNED, cfg.service_level, configured), {"calibration": why}
    start = win.validation_start
    reference = max(replay_metrics(PolicySpec(name), demand, params, cfg, start, win.days)["fill_rate"]
                    for name in BASELINES)
    tried = {}
    chosen = SERVICE_LEVEL_GRID[-1]
    for level in SERVICE_LEVEL_GRID:
        fill = replay_metrics(PolicySpec(LEARNED, level, configured), demand, params, cfg, start, win.days)["fill_rate"]
        tried[str(level)] = fill
        if fill >= min(reference + cfg.fill_margin, 1.0):
            chosen = level
            break
    return PolicySpec(LEARNED, chosen, configured), {
        "calibration": "lowest service level reaching the best baseline's validation fill rate",
        "validation_reference_fill_rate": reference, "validation_fill_by_level": tried}
