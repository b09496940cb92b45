"""The forecaster's names, tables, config and the per-grain lengths (``GrainSpec``).

Kept apart so scoring and tests can read tables and settings without the model code.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.train import forecast_baselines as fb
from tasks.train.common import (
    TrainConfig,
)

MODEL_NAME = "demand_forecaster"
MAIN_METRIC = "wape"
BASELINES = fb.UNIT_BASELINES
LEARNED = "model"
FEATURE_TABLE = "features.daily_item_sales"
#: Sparse daily sales per product and store over the whole history (dbt mart).
HISTORY_TABLE = "marts.fct_daily_item_sales"
ITEM_TABLE = "features.item_features"
#: Where an events calendar may live (first existing wins); optional.
CALENDAR_TABLES = ("marts.dim_calendar", "raw.calendar")
LOCATION_COLUMNS = ("location_id", "store_id")
NO_LOCATION = frozenset({"", "all", "none", "nan"})
QUANTILES = (0.1, 0.5, 0.9)
FEATURES = ("units_lags", "level", "category_lags", "category_level", "season_profile", "zero_share",
            "periods_since_sale", "negative_share", "day_of_week", "day_of_year", "yearly_available",
            "yearly_shape", "category_yearly_shape", "events", "yearly_events", "promo_share_short",
            "promo_share_long", "price_ratios")
ALL_CATEGORY = "__all__"
#: The model space recorded in each artefact (``preprocessing["target_transform"]``), so a
#: version is served in the space it was trained in: versions before returns got their own
#: linear space (``panel.to_space``) say ``SLOG_TRANSFORM``.
SLOG_TRANSFORM = "slog(units) - mean(slog(context))"
TARGET_TRANSFORM = SLOG_TRANSFORM + "; series with returns: units / mean|context| - mean"
GRAINS = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class DemandConfig(TrainConfig):
    """Daily fields keep their historic names; weekly/monthly grains have their own
    context and horizon (in periods) because "28 periods" means 28 days or 2 years."""

    epochs: int = 20
    batch_size: int = 256
    lr: float = 3e-3
    context_days: int = 28
    horizon_days: int = 28
    context_weeks: int = 13
    horizon_weeks: int = 8
    context_months: int = 12
    horizon_months: int = 3
    hidden: tuple[int, ...] = (128, 64)
    min_series_days: int = 42
    price_loss_weight: float = 0.5
    max_history_days: int = 4 * 365 + 1
    max_train_rows: int = 60_000
    min_steps: int = 0

    def validate(self) -> None:
        super().validate()
        if self.context_days < 7:
            raise ValueError("context_days must be >= 7 (one week, for the weekly pattern)")
        if min(self.horizon_days, self.horizon_weeks, self.horizon_months) < 1:
            raise ValueError("horizons must be >= 1")
        if min(self.context_weeks, self.context_months) < 2:
            raise ValueError("weekly/monthly contexts must be >= 2 periods")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError("hidden must list at least one positive layer width")
        if self.min_series_days < self.context_days + 1:
            raise ValueError("min_series_days must exceed context_days")
        if self.price_loss_weight < 0:
            raise ValueError("price_loss_weight must be >= 0")
        if self.max_history_days < self.min_series_days or self.max_train_rows < 1 or self.min_steps < 0:
            raise ValueError("max_history_days must be >= min_series_days, max_train_rows >= 1, min_steps >= 0")

    @property
    def n_inputs(self) -> int:
        """Inputs at the daily grain (kept for callers of the daily-only version)."""
        return grain_spec(self, "daily").n_inputs


@dataclass(frozen=True)
class GrainSpec:
    """Everything that depends on the grain: lengths in periods, season, yearly lag."""

    grain: str
    period_days: int
    context: int
    horizon: int
    season: int  # MASE / seasonal naive season length
    year_lag: int  # same period last year (364 keeps the weekday on daily data)
    year_halfwidth: int  # smoothing of the yearly shape (+- periods)
    min_periods: int
    max_history: int

    @property
    def profile(self) -> int:
        """Within-season profile length (the weekday profile on daily data; none when
        the season does not fit in the context)."""
        return self.season if self.season <= self.context else 0

    @property
    def n_inputs(self) -> int:
        c, h = self.context, self.horizon
        dow = 7 if self.grain == "daily" else 0
        return 2 * c + 2 + self.profile + 3 + dow + 4 + 1 + 4 * h + 2 + 3


def grain_spec(cfg: DemandConfig, grain: str) -> GrainSpec:
    if grain == "daily":
        return GrainSpec("daily", 1, cfg.context_days, cfg.horizon_days, 7, 364, 3, cfg.min_series_days,
                         cfg.max_history_days)
    if grain == "weekly":
        c, h = cfg.context_weeks, cfg.horizon_weeks
        return GrainSpec("weekly", 7, c, h, 52, 52, 1, c + h + 1, cfg.max_history_days // 7)
    if grain == "monthly":
        c, h = cfg.context_months, cfg.horizon_months
        return GrainSpec("monthly", 30, c, h, 12, 12, 0, c + h + 1, cfg.max_history_days // 30)
    raise ValueError(f"unknown grain {grain!r} (one of {GRAINS})")


def eval_days_for(n_days: int, cfg: DemandConfig, grain: str = "daily") -> int:
    """Holdout length in periods: H for long series; a shorter one when a full-H holdout
    would leave too little to train on (daily: min(H, 14), as before; else H/2)."""
    spec = grain_spec(cfg, grain)
    h = spec.horizon
    if n_days >= spec.context + 2 * h:
        return h
    return min(h, 14) if grain == "daily" else max(1, h // 2)
