"""Demand forecaster: one global quantile MLP over item (x location) series at the data's
own grain (daily, weekly or monthly) -> P10/P50/P90 units and a P50 price for the next
H periods. The best statsforecast baseline is a servable candidate: when it beats
the learned model on the holdout, its forecasts are what scoring serves.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.demand_forecaster import train; \
               print(train(date(2024, 1, 31), 'manual'))"

1. Data (``read_sales``): the ``features.daily_item_sales`` partition valid at
   ``as_of_date`` (dense last 90 days with promo prices) extended back with the sparse
   ``marts.fct_daily_item_sales`` history, up to ``max_history_days``; when that mart has
   several stores the series are store-level and come from the mart alone. Item
   categories from ``features.item_features`` and, when a calendar table exists
   (``CALENDAR_TABLES``), its event days. Optional columns are used when present:
   ``store_id``/``location_id`` (series key = item x location), ``avg_price``,
   ``is_promo``. Negative units (returns) are kept as negative demand.
2. Grain: inferred from the dates that carry non-zero units (``detect_grain``):
   weekly data that landed on one weekday of a zero-filled daily table is weekly,
   not a daily series with six zero days a week. Context, horizon, season and the
   yearly lag are per grain (``GrainSpec``); the horizon is in periods.
3. Holdout: the last ``eval`` periods of every series, forecast from one origin;
   ``eval`` = H when the series is long enough to also train on full horizons,
   else a shorter holdout (``eval_periods_for``). Training origins are every period
   before the holdout (strided to at most ``max_train_rows`` rows).
4. Model inputs per (series, origin): the last C values in signed-log space
   (sign(y) log1p|y|, so returns stay representable) minus their mean (the level),
   the level, the same for the category series, the within-season profile (daily:
   weekday profile), share of zero periods, periods since the last sale, share of
   negative periods, calendar of the origin (weekday, day-of-year harmonics),
   per horizon step the *yearly shape* (last year's value around the target period
   relative to last year's context, for the series and for its category, when the
   history reaches back a year), per horizon step the calendar events of the
   target period and of its last-year counterpart, promo shares and price ratios.
   A shared MLP outputs per horizon step a median and two positive offsets
   (P10 <= P50 <= P90) and a price head. Loss: pinball at 0.1/0.5/0.9 plus
   ``price_loss_weight`` x L1 of the price head on periods with an observed price.
5. Baselines on the same cells (``forecast_baselines``): statsforecast seasonal
   naive, window average, AutoETS, Croston (optimized) and TSB; their price is the
   last observed price.
6. Metrics (finite values only -- an undefined metric is absent, never NaN): WAPE
   of P50 (main), MASE (scaled by the grain's in-sample seasonal-naive MAE), P10-P90
   coverage, mean pinball, ``price_wape`` (only when the source has prices).
7. Candidates: every baseline is servable through the registry's shared mechanism
   (``recipe.save_and_register(servable=...)``, docs/CONTRACTS.md "Served baselines"):
   a baseline that beats the learned model on WAPE is registered as its own version
   ``demand_forecaster-baseline_<name>-<date>-<hash>`` (``serving_strategy``
   ``baseline:<name>``) and scoring serves its forecasts.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from tasks.train import forecast_baselines as fb
from tasks.train.common import (
    Artefact,
    DataWindow,
    TrainConfig,
    TrainResult,
    as_of_instant,
    config_from_dict,
    fit,
    pick_device,
    setup_torch,
)
from tasks.train.data import read_daily_features
from tasks.train.metrics import interval_coverage, mase, pinball_loss, wape
from tasks.train.recipe import ServableBaseline, save_and_register, winning_baseline

log = logging.getLogger(__name__)

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


# ------------------------------------------------------------- data prep ----
def slog(x: np.ndarray) -> np.ndarray:
    """sign(x) log1p(|x|): log1p for sales, and returns (negative demand) stay defined."""
    return np.sign(x) * np.log1p(np.abs(x))


def sexp(z: np.ndarray) -> np.ndarray:
    """Inverse of ``slog`` (monotone, so quantiles survive the transform)."""
    return np.sign(z) * np.expm1(np.abs(z))


def detect_grain(dates: pd.Series, units: pd.Series | None = None) -> str:
    """'daily', 'weekly' or 'monthly' from the dates that carry non-zero units.

    Only those dates are looked at because a zero-filled daily table holding weekly
    data has every day present (six of them zero). Weekly: all such dates on one
    weekday; monthly: at most two distinct days of the month and gaps of 28-31
    days. Fewer than three such dates: daily (nothing to infer from).
    """
    d = pd.to_datetime(pd.Series(dates))
    if units is not None:
        d = d[pd.to_numeric(pd.Series(units).to_numpy(), errors="coerce") != 0]
    days = pd.DatetimeIndex(d.dropna().unique()).sort_values()
    if len(days) < 3:
        return "daily"
    gaps = np.diff(days.asi8) / 86_400e9
    if days.weekday.nunique() == 1 and np.all(gaps % 7 == 0):
        return "weekly"
    if days.day.nunique() <= 2 and gaps.min() >= 28 and np.median(gaps) <= 31:
        return "monthly"
    return "daily"


def _period_index(dates: pd.Series, grain: str, anchor: pd.Timestamp) -> np.ndarray:
    if grain == "daily":
        return ((dates - anchor).dt.days).to_numpy()
    if grain == "weekly":  # a week is labelled by its last day (where weekly data lands)
        return (-((-(dates - anchor).dt.days) // 7)).to_numpy()
    return ((dates.dt.year - anchor.year) * 12 + dates.dt.month - anchor.month).to_numpy()


def period_dates(first: date, grain: str, start: int, stop: int) -> list[date]:
    """Start dates of periods ``start .. stop-1`` counted from ``first``'s period."""
    if grain == "daily":
        return [first + timedelta(days=i) for i in range(start, stop)]
    if grain == "weekly":
        return [first + timedelta(days=7 * i) for i in range(start, stop)]
    base = first.year * 12 + first.month - 1
    return [date((base + i) // 12, (base + i) % 12 + 1, 1) for i in range(start, stop)]


@dataclass
class Panel:
    """Dense series x period matrices (rows: series, columns: consecutive periods).

    A series is a product, or a product at a location when the source has one
    (``products`` holds the series keys, ``items``/``locations`` their parts).
    ``price`` is forward/back-filled for convenience; ``price_observed`` says where
    a price was actually seen (a sale that period), so nothing reads a back-filled
    future price as if it were known. ``category`` indexes the categories.
    ``events`` counts calendar event days per period from the panel start to
    ``EVENT_MARGIN`` periods past its end (calendars are known in advance).
    """

    products: list[str]
    dates: list[date]
    units: np.ndarray
    promo: np.ndarray
    price: np.ndarray
    price_observed: np.ndarray | None = None
    category: np.ndarray | None = None
    grain: str = "daily"
    events: np.ndarray | None = None
    items: list[str] | None = None
    locations: list[str | None] | None = None

    def __post_init__(self) -> None:
        if self.price_observed is None:
            self.price_observed = (self.units > 0) & (self.price > 0)
        if self.category is None:
            self.category = np.zeros(len(self.products), dtype=np.int64)
        if self.events is None:
            self.events = np.zeros(self.n_days + EVENT_MARGIN)
        if self.items is None:
            self.items = list(self.products)
        if self.locations is None:
            self.locations = [None] * len(self.products)

    @property
    def n_days(self) -> int:
        """Number of periods (days on daily data; the name predates other grains)."""
        return len(self.dates)

    def event_window(self, lo: int, hi: int) -> np.ndarray:
        """Event counts of periods [lo, hi) (0 outside the known calendar)."""
        out = np.zeros(hi - lo)
        idx = np.arange(lo, hi)
        ok = (idx >= 0) & (idx < len(self.events))
        out[ok] = self.events[idx[ok]]
        return out


EVENT_MARGIN = 400


def _location_column(frame: pd.DataFrame) -> str | None:
    """The location column when the source has more than one real location."""
    for col in LOCATION_COLUMNS:
        if col in frame.columns:
            values = frame[col].astype(str).str.strip().str.lower()
            if (~values.isin(NO_LOCATION)).any() and frame[col].nunique(dropna=True) > 1:
                return col
    return None


def to_panel(sales: pd.DataFrame, categories: dict[str, str] | None = None,
             calendar: pd.DataFrame | None = None, grain: str | None = None,
             max_periods: int | None = None) -> Panel:
    """Pivot sales rows into dense matrices at the detected grain (missing periods = 0
    units, no promo, price carried from neighbouring periods). ``categories`` maps
    product -> category (missing products share one). ``calendar``: rows with an
    ``event_date`` (see ``normalise_calendar``). ``max_periods`` keeps the latest ones.
    """
    frame = sales.copy()
    frame["sales_date"] = pd.to_datetime(frame["sales_date"])
    frame["units"] = pd.to_numeric(frame["units"], errors="coerce").fillna(0.0).astype(float)
    grain = grain or detect_grain(frame["sales_date"], frame["units"])
    nonzero = frame.loc[frame["units"] != 0, "sales_date"]
    anchor = frame["sales_date"].min()
    if grain == "weekly" and len(nonzero):  # weeks end on the weekday the data landed on
        ref = nonzero.min()
        anchor = ref - pd.Timedelta(days=7 * ((ref - anchor).days // 7))
    elif grain == "monthly":
        anchor = anchor.replace(day=1)
    frame["period"] = _period_index(frame["sales_date"], grain, anchor)
    n = int(frame["period"].max()) + 1
    if grain == "weekly" and n > 1 and frame["sales_date"].max() < anchor + pd.Timedelta(days=7 * (n - 1)):
        n -= 1  # the week in progress has not landed yet: its zero days are not a zero week
    loc_col = _location_column(frame)
    frame["product_id"] = frame["product_id"].astype(str)
    if loc_col:
        frame["location"] = frame[loc_col].astype(str)
        frame["key"] = frame["product_id"] + "@" + frame["location"]
    else:
        frame["key"] = frame["product_id"]
    keys = sorted(frame["key"].unique())

    def pivot(values: pd.Series, agg: str) -> np.ndarray:
        wide = pd.DataFrame({"key": frame["key"], "period": frame["period"], "v": values}).pivot_table(
            index="key", columns="period", values="v", aggfunc=agg, dropna=False)
        return wide.reindex(index=keys, columns=range(n)).astype(float).to_numpy()

    units = np.nan_to_num(pivot(frame["units"], "sum"))
    promo_col = frame["is_promo"] if "is_promo" in frame.columns else pd.Series(0.0, index=frame.index)
    promo = np.clip(np.nan_to_num(pivot(pd.to_numeric(promo_col.astype(float), errors="coerce"), "mean")), 0, 1)
    price_col = frame["avg_price"] if "avg_price" in frame.columns else pd.Series(np.nan, index=frame.index)
    raw_price = pd.DataFrame(pivot(pd.to_numeric(price_col.astype(float), errors="coerce"), "mean"))
    observed = raw_price.notna().to_numpy() & (raw_price.fillna(0).to_numpy() > 0) & (units > 0)
    price = raw_price.ffill(axis=1).bfill(axis=1).fillna(0.0).to_numpy()
    first_key = frame.drop_duplicates("key").set_index("key")
    items = [str(first_key.loc[k, "product_id"]) for k in keys]
    locations: list[str | None] = [str(first_key.loc[k, "location"]) if loc_col else None for k in keys]
    cats = [(categories or {}).get(i) or ALL_CATEGORY for i in items]
    names = sorted(set(cats))
    category = np.array([names.index(c) for c in cats], dtype=np.int64)
    first = anchor.date()
    dates = period_dates(first, grain, 0, n)
    events = _event_counts(calendar, first, grain, n + EVENT_MARGIN)
    panel = Panel(keys, dates, units, promo, price, observed, category, grain, events, items, locations)
    if max_periods is not None and n > max_periods:
        cut = n - max_periods
        panel = Panel(keys, dates[cut:], units[:, cut:], promo[:, cut:], price[:, cut:], observed[:, cut:],
                      category, grain, events[cut:], items, locations)
    return panel


def normalise_calendar(calendar: pd.DataFrame | None) -> pd.DataFrame:
    """(event_date) rows of event days from a calendar-like table, or an empty frame.

    Accepted shapes (the canonical ``calendar`` entity is being added upstream, so
    this is deliberately tolerant): a date column (``event_date``, ``calendar_date``,
    ``date``, ``sales_date``) plus, optionally, event columns (names containing
    ``event`` or ``holiday``): a day counts as an event day when any of them is set
    (non-empty text, true, or non-zero). Without event columns every listed date is
    an event day (an events file).
    """
    if calendar is None or calendar.empty:
        return pd.DataFrame({"event_date": pd.Series(dtype="datetime64[ns]")})
    date_col = next((c for c in ("event_date", "calendar_date", "date", "sales_date") if c in calendar.columns),
                    None)
    if date_col is None:
        log.warning("calendar has no date column (%s); ignored", list(calendar.columns))
        return pd.DataFrame({"event_date": pd.Series(dtype="datetime64[ns]")})
    flags = [c for c in calendar.columns if c != date_col and ("event" in c.lower() or "holiday" in c.lower())]
    keep = pd.Series(True, index=calendar.index)
    if flags:
        def is_set(col: pd.Series) -> pd.Series:
            if col.dtype == bool:
                return col.fillna(False)
            numeric = pd.to_numeric(col, errors="coerce")
            text = col.astype(str).str.strip().str.lower()
            return numeric.fillna(0).ne(0) | (numeric.isna() & col.notna()
                                              & ~text.isin({"", "nan", "none", "false", "0"}))
        keep = pd.concat([is_set(calendar[c]) for c in flags], axis=1).any(axis=1)
    days = pd.to_datetime(calendar.loc[keep, date_col], errors="coerce").dropna().dt.normalize().unique()
    return pd.DataFrame({"event_date": pd.to_datetime(sorted(days))})


def _event_counts(calendar: pd.DataFrame | None, first: date, grain: str, n: int) -> np.ndarray:
    """Event days per period for periods 0..n-1 from ``first``."""
    out = np.zeros(n)
    cal = normalise_calendar(calendar)
    if cal.empty:
        return out
    idx = _period_index(cal["event_date"], grain, pd.Timestamp(first))
    idx = idx[(idx >= 0) & (idx < n)]
    np.add.at(out, idx, 1.0)
    return out


def _window(matrix: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Columns [lo, hi) with periods before the panel start as zeros."""
    pad = max(0, -lo)
    part = matrix[:, max(lo, 0):max(hi, 0)]
    return np.concatenate([np.zeros((matrix.shape[0], pad)), part], axis=1) if pad else part


def _yearly_shape(logs: np.ndarray, origin: int, spec: GrainSpec) -> tuple[np.ndarray, float]:
    """((P, H) last year's smoothed value around each target period minus last year's
    context mean, available?) -- the year-over-year shape a weekly season cannot carry.
    Unavailable (zeros, 0.0) when the history does not reach a year before the context."""
    c, h, lag, w = spec.context, spec.horizon, spec.year_lag, spec.year_halfwidth
    if origin - c - lag < 0:
        return np.zeros((logs.shape[0], h)), 0.0
    ly_context = logs[:, origin - c - lag:origin - lag].mean(axis=1)
    out = np.zeros((logs.shape[0], h))
    for step in range(h):
        lo = origin + step - lag - w
        hi = min(origin + step - lag + w + 1, origin)
        out[:, step] = logs[:, lo:hi].mean(axis=1) - ly_context
    return out, 1.0


def origin_inputs(panel: Panel, origin: int, cfg: DemandConfig,
                  full_logs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (P, n_inputs), level m (P,)) for forecasting periods ``origin..`` from the
    context before it. Periods before the panel start count as zero sales; nothing at
    or after ``origin`` is read except the calendar (known in advance). ``full_logs``
    (``slog(panel.units)``, precomputed once by ``training_set``) is only read before
    ``origin``."""
    spec = grain_spec(cfg, panel.grain)
    c, h = spec.context, spec.horizon
    all_logs = (slog(panel.units) if full_logs is None else full_logs)[:, :origin]
    units = _window(panel.units, origin - c, origin)
    logs = slog(units)
    level = logs.mean(axis=1)
    cat = panel.category
    n_cat = int(cat.max()) + 1 if len(cat) else 1
    counts = np.maximum(np.bincount(cat, minlength=n_cat), 1)[:, None]

    def by_category(matrix: np.ndarray) -> np.ndarray:
        total = np.zeros((n_cat, matrix.shape[1]))
        np.add.at(total, cat, matrix)
        return (total / counts)[cat]

    cat_logs = by_category(logs)
    cat_level = cat_logs.mean(axis=1)
    origin_date = period_dates(panel.dates[0], panel.grain, origin, origin + 1)[0] if panel.dates else date(2000, 1, 1)
    parts: list[np.ndarray] = [logs - level[:, None], level[:, None] / 3.0, cat_logs - cat_level[:, None],
                               cat_level[:, None] / 3.0]
    if spec.profile:
        pos = (np.arange(c) - c + origin) % spec.season
        parts.append(np.stack([logs[:, pos == d].mean(axis=1) if (pos == d).any() else level
                               for d in range(spec.season)], axis=1) - level[:, None])
    sold = units > 0
    since = np.where(sold.any(axis=1), c - 1 - np.argmax(sold[:, ::-1], axis=1), c) / c
    p = len(level)
    parts += [sold.mean(axis=1)[:, None], since[:, None], (units < 0).mean(axis=1)[:, None]]
    if panel.grain == "daily":
        dow = np.zeros((p, 7))
        dow[:, origin_date.weekday()] = 1.0
        parts.append(dow)
    doy = 2 * np.pi * (origin_date.timetuple().tm_yday - 1) / 365.25
    parts.append(np.tile([np.sin(doy), np.cos(doy), np.sin(2 * doy), np.cos(2 * doy)], (p, 1)))
    shape, available = _yearly_shape(all_logs, origin, spec)
    cat_shape, _ = _yearly_shape(by_category(all_logs), origin, spec) if available else (np.zeros((p, h)), 0)
    events = np.log1p(panel.event_window(origin, origin + h))
    ly_events = np.log1p(panel.event_window(origin - spec.year_lag, origin - spec.year_lag + h))
    parts += [np.full((p, 1), available), np.clip(shape, -3, 3), np.clip(cat_shape, -3, 3),
              np.tile(events, (p, 1)), np.tile(ly_events, (p, 1))]
    short, long_ = max(1, 7 // spec.period_days), max(2, 28 // spec.period_days)
    promo_s = _window(panel.promo, origin - short, origin).mean(axis=1)
    promo_l = _window(panel.promo, origin - long_, origin).mean(axis=1)
    obs = _window(panel.price_observed.astype(float), origin - c, origin) > 0
    prices = _window(panel.price, origin - c, origin)
    last = fb.last_observed(panel.price, panel.price_observed, origin)
    with np.errstate(invalid="ignore", divide="ignore"):
        seen = np.where(obs, prices, np.nan)
        med = np.nanmedian(np.where(obs.any(axis=1)[:, None], seen, 1.0), axis=1)
        mean = np.nanmean(np.where(obs.any(axis=1)[:, None], seen, 1.0), axis=1)
        ratio_med = np.where(np.isfinite(last) & (last > 0), np.log(med / last), 0.0)
        ratio_mean = np.where(np.isfinite(last) & (last > 0), np.log(mean / last), 0.0)
    parts += [promo_s[:, None], promo_l[:, None],
              np.clip(np.nan_to_num(ratio_med), -1, 1)[:, None], np.clip(np.nan_to_num(ratio_mean), -1, 1)[:, None],
              obs.mean(axis=1)[:, None]]
    x = np.concatenate(parts, axis=1)
    return np.nan_to_num(x).astype(np.float32), level


def price_targets(panel: Panel, origin: int, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log(price / last price) (P, days), mask (P, days), last price (P,)) for periods
    ``origin..origin+days-1``; masked where no price was observed or none is known."""
    last = fb.last_observed(panel.price, panel.price_observed, origin)
    stop = min(origin + days, panel.n_days)
    y = np.zeros((len(last), days))
    mask = np.zeros((len(last), days))
    if stop > origin:
        obs = panel.price_observed[:, origin:stop] & np.isfinite(last)[:, None] & (np.nan_to_num(last) > 0)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.log(np.where(obs, panel.price[:, origin:stop], 1.0) / np.where(obs, last[:, None], 1.0))
        y[:, : stop - origin] = np.where(obs, ratio, 0.0)
        mask[:, : stop - origin] = obs
    return y, mask, last


def training_origins(panel: Panel, train_end: int, cfg: DemandConfig) -> list[int]:
    """Origins with a full context and at least one target before ``train_end``, strided
    (newest kept) so that series x origins stays under ``max_train_rows``. A stride
    that is a multiple of the season would show the model one weekday only, so it is
    bumped to the next non-multiple."""
    spec = grain_spec(cfg, panel.grain)
    candidates = list(range(spec.context, train_end))
    per_origin = max(len(panel.products), 1)
    stride = max(1, math.ceil(len(candidates) * per_origin / cfg.max_train_rows))
    while stride > 1 and stride % spec.season == 0:
        stride += 1
    return sorted(candidates[::-1][::stride])


def training_set(panel: Panel, train_end: int, cfg: DemandConfig) -> dict[str, torch.Tensor]:
    """Every (series, origin) from ``training_origins``; targets at or after ``train_end``
    are masked out of the loss."""
    spec = grain_spec(cfg, panel.grain)
    xs, ys, masks, pys, pmasks = [], [], [], [], []
    h = spec.horizon
    full_logs = slog(panel.units)
    for origin in training_origins(panel, train_end, cfg):
        x, level = origin_inputs(panel, origin, cfg, full_logs)
        y = np.zeros((len(level), h))
        mask = np.zeros((len(level), h))
        stop = min(origin + h, train_end)
        y[:, : stop - origin] = slog(panel.units[:, origin:stop]) - level[:, None]
        mask[:, : stop - origin] = 1.0
        py, pmask, _ = price_targets(panel, origin, stop - origin)
        pys.append(np.pad(py, ((0, 0), (0, h - py.shape[1]))))
        pmasks.append(np.pad(pmask, ((0, 0), (0, h - pmask.shape[1]))))
        xs.append(x)
        ys.append(y)
        masks.append(mask)
    if not xs:
        raise ValueError(f"series too short: {train_end} training periods, context={spec.context}")

    def cat(parts: list[np.ndarray]) -> torch.Tensor:
        return torch.as_tensor(np.concatenate(parts), dtype=torch.float32)

    return {"x": cat(xs), "y": cat(ys), "mask": cat(masks), "price_y": cat(pys), "price_mask": cat(pmasks)}


def epochs_for(cfg: DemandConfig, n_rows: int) -> DemandConfig:
    """``cfg`` with enough epochs for ``min_steps`` optimiser steps (a weekly panel has
    ~50x fewer training rows than a daily one). Off by default: 2000 steps made the
    weekly scenario over-fit (holdout WAPE 0.32 vs 0.22 at 20 epochs)."""
    steps_per_epoch = max(1, math.ceil(n_rows / cfg.batch_size))
    return dataclasses.replace(cfg, epochs=max(cfg.epochs, math.ceil(cfg.min_steps / steps_per_epoch)))


# ----------------------------------------------------------------- model ----
N_PRICE_INPUTS = 5  # the last inputs: promo share short/long, log(median/last), log(mean/last), priced share


class QuantileMLP(nn.Module):
    """inputs -> (H, 4): P10, P50, P90 (non-crossing: P50 = a, P10 = a - softplus(b),
    P90 = a + softplus(c)) and the P50 log price ratio to the last observed price.

    The price head is a separate linear map of the price/promo inputs only, and is
    switched off (forecast = last price) for a product whose last price equals the
    median observed price of the context. Tried first: a head on the demand trunk, and
    an unmasked linear head; both added noise and lost to the last price on
    synthetic data whose prices rarely change.
    """

    def __init__(self, n_in: int, horizon: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for w in hidden:
            layers += [nn.Linear(width, w), nn.ReLU()]
            width = w
        self.trunk = nn.Sequential(*layers)
        self.units = nn.Linear(width, horizon * 3)
        self.price = nn.Linear(N_PRICE_INPUTS, horizon)
        nn.init.zeros_(self.price.weight)
        nn.init.zeros_(self.price.bias)
        self.horizon = horizon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.trunk(x)
        out = self.units(z).float().view(-1, self.horizon, 3)
        mid = out[..., 1]
        low = mid - nn.functional.softplus(out[..., 0])
        high = mid + nn.functional.softplus(out[..., 2])
        moved = (x[:, -3].abs() > 1e-6).float()[:, None]
        price = self.price(x[:, -N_PRICE_INPUTS:]).float() * moved
        return torch.stack([low, mid, high, price], dim=-1)


def masked_pinball(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss over quantiles and unmasked (series, horizon) cells."""
    q = torch.tensor(QUANTILES, device=pred.device)
    diff = y.unsqueeze(-1) - pred[..., :3]  # (n, H, 3)
    loss = torch.maximum(q * diff, (q - 1) * diff).mean(dim=-1)
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)


def make_loss(cfg: DemandConfig):  # noqa: ANN201 - a loss closure for common.fit
    def loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        pred = model(batch["x"])
        units = masked_pinball(pred, batch["y"], batch["mask"])
        pm = batch["price_mask"]
        price = ((pred[..., 3] - batch["price_y"]).abs() * pm).sum() / pm.sum().clamp_min(1.0)
        return units + cfg.price_loss_weight * price

    return loss


def _nonneg(panel: Panel, origin: int) -> np.ndarray:
    """(P,) series with no negative demand (returns) before the origin: clipped at 0."""
    return (panel.units[:, :origin] >= 0).all(axis=1)


@torch.no_grad()
def forecast(model: QuantileMLP, panel: Panel, origin: int, cfg: DemandConfig,
             device: torch.device) -> np.ndarray:
    """(P, H, 4) forecasts for periods ``origin .. origin + H - 1``: unit P10, P50, P90
    and the P50 price (NaN for series whose price was never observed). Series that
    never had returns are clipped at 0; the others may forecast negative demand."""
    x, level = origin_inputs(panel, origin, cfg)
    model.to(device).eval()
    out = model(torch.as_tensor(x, device=device)).cpu().numpy().astype(np.float64)
    units = sexp(np.clip(out[..., :3] + level[:, None, None], -20, 20))
    units = np.where(_nonneg(panel, origin)[:, None, None], np.clip(units, 0, None), units)
    last = fb.last_observed(panel.price, panel.price_observed, origin)
    price = last[:, None] * np.exp(np.clip(out[..., 3], -3, 3))
    return np.concatenate([units, price[..., None]], axis=-1)


def baseline_forecasts(panel: Panel, origin: int, days: int,
                       names: tuple[str, ...] = BASELINES) -> dict[str, np.ndarray]:
    """(P, days, 4) per baseline: its unit quantiles plus the last observed price."""
    season = {"daily": 7, "weekly": 52, "monthly": 12}[panel.grain]
    price = fb.last_price(panel.price, panel.price_observed, origin, days)[..., None]
    units = fb.statsforecast_baselines(panel.units, origin, days, season, names)
    return {name: np.concatenate([u, price], axis=-1) for name, u in units.items()}


def _finite(values: dict[str, float | None]) -> dict[str, float]:
    """Drop undefined metrics: NaN/inf are not JSON and mean "not measurable here"."""
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


def forecast_metrics(panel: Panel, origin: int, pred: np.ndarray) -> dict[str, float]:
    """Metrics of (P, days, 4) forecasts against the panel's periods ``origin..``: WAPE
    (P50), MASE (in-sample = periods before the origin, the grain's season), P10-P90
    coverage, mean pinball, and price WAPE on periods with an observed price. Metrics
    that are undefined on this holdout (e.g. price WAPE without prices) are absent."""
    days = pred.shape[1]
    season = {"daily": 7, "weekly": 52, "monthly": 12}[panel.grain]
    actual = panel.units[:, origin:origin + days]
    py, pmask, last = price_targets(panel, origin, days)
    pmask = pmask > 0
    price_actual = np.where(pmask, last[:, None] * np.exp(py), 0.0)
    return _finite({
        "wape": wape(actual, pred[..., 1]),
        "mase": mase(actual, pred[..., 1], panel.units[:, :origin], season=season),
        "coverage_p10_p90": interval_coverage(actual, pred[..., 0], pred[..., 2]),
        "pinball": float(np.mean([pinball_loss(actual, pred[..., i], q) for i, q in enumerate(QUANTILES)])),
        "price_wape": wape(price_actual[pmask], pred[..., 3][pmask]) if pmask.any() else None,
        "eval_days": float(days),
    })


def servable_baselines(baselines: dict[str, dict[str, float]]) -> list[ServableBaseline]:
    """Every baseline ``baseline_forecasts`` can refit at scoring time (no fitted state)."""
    return [ServableBaseline(name) for name in BASELINES if name in baselines]


def pick_served(metrics: dict[str, float], baselines: dict[str, dict[str, float]]) -> str:
    """What registering these results serves, by the registry's rule
    (``recipe.winning_baseline``): ``LEARNED`` unless a baseline has a strictly lower WAPE
    on the same holdout. A model without a finite WAPE loses to any baseline that has one."""
    winner = winning_baseline(metrics, baselines, servable_baselines(baselines), MAIN_METRIC,
                              higher_is_better=False)
    return LEARNED if winner is None else winner.name


@dataclass
class Fitted:
    model: QuantileMLP
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    panel: Panel
    origin: int
    eval_days: int
    loss_history: list[float]
    served: str = LEARNED
    spec: GrainSpec | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def served_metrics(self) -> dict[str, float]:
        """Metrics of what would be served (the model's or the winning baseline's)."""
        return self.metrics if self.served == LEARNED else self.baselines[self.served]


def fit_and_evaluate(sales: pd.DataFrame, cfg: DemandConfig, device: torch.device,
                     categories: dict[str, str] | None = None, calendar: pd.DataFrame | None = None,
                     grain: str | None = None) -> Fitted:
    """Holdout = the last ``eval`` periods; train on everything before them (up to
    ``max_history_days``); score the model and every baseline on the same cells."""
    if sales.empty:
        raise ValueError("no sales rows")
    grain = grain or detect_grain(sales["sales_date"], sales["units"])
    spec = grain_spec(cfg, grain)
    panel = to_panel(sales, categories, calendar, grain, max_periods=spec.max_history)
    if panel.n_days < spec.min_periods:
        raise ValueError(f"only {panel.n_days} {grain} periods of sales "
                         f"(< min_series_days={spec.min_periods} periods)")
    e = eval_days_for(panel.n_days, cfg, grain)
    origin = panel.n_days - e
    setup_torch(cfg)
    tensors = training_set(panel, origin, cfg)
    model = QuantileMLP(spec.n_inputs, spec.horizon, cfg.hidden)
    history = fit(model, tensors, make_loss(cfg), epochs_for(cfg, len(tensors["x"])), device)
    metrics = forecast_metrics(panel, origin, forecast(model, panel, origin, cfg, device)[:, :e])
    baselines = {name: forecast_metrics(panel, origin, pred)
                 for name, pred in baseline_forecasts(panel, origin, e).items()}
    served = pick_served(metrics, baselines)
    log.info("demand_forecaster (%s, %d series, %d periods): model %s; baselines %s; serving %s", grain,
             len(panel.products), panel.n_days, metrics, baselines, served)
    extra = {"grain": grain, "n_periods": panel.n_days, "n_train_rows": int(len(tensors["x"])),
             "n_event_periods": int((panel.events[: panel.n_days] > 0).sum()),
             "has_locations": any(loc is not None for loc in panel.locations or [])}
    return Fitted(model, metrics, baselines, panel, origin, e, history, served, spec, extra)


def load_model(art: Artefact, device: torch.device) -> tuple[QuantileMLP, DemandConfig]:
    """The learned model of an artefact at the grain it was trained on."""
    cfg = config_from_dict(DemandConfig, art.config)
    spec = grain_spec(cfg, str(art.preprocessing.get("grain", "daily")))
    model = QuantileMLP(spec.n_inputs, spec.horizon, cfg.hidden)
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), cfg


def read_sales(as_of_date: date, max_history_days: int) -> tuple[pd.DataFrame, date | None]:
    """Sales rows for the forecaster and the feature partition date they are valid at.

    The ``features.daily_item_sales`` partition holds only its 90-day window (so a daily
    feature run stays cheap); the forecaster needs the long history for yearly seasonality
    and weekly/monthly grains, so days before that window come from the sparse
    ``marts.fct_daily_item_sales`` (``sales_date`` < the partition date: point in time).
    When the mart has more than one store the feature table's store-summed series would
    hide the store dimension, so the store-level mart rows are used alone, with one zero
    row on the partition's last day so the series end where the feature window ends.
    """
    from tasks.warehouse import read_frame, table_exists

    recent, found = read_daily_features(FEATURE_TABLE, as_of_date)
    if found is None or recent.empty or not table_exists(HISTORY_TABLE):
        return recent, found
    history = read_frame(
        f"SELECT product_id, store_id, sales_date, units, avg_price, is_promo FROM {HISTORY_TABLE} "
        "WHERE sales_date >= :s AND sales_date < :e",
        {"s": found - timedelta(days=max_history_days), "e": found})
    if history.empty:
        return recent, found
    history["sales_date"] = pd.to_datetime(history["sales_date"]).dt.date
    recent = recent.assign(sales_date=pd.to_datetime(recent["sales_date"]).dt.date)
    last_day = found - timedelta(days=1)
    if _location_column(history) is not None:
        if history["sales_date"].max() < last_day:
            pad = history.iloc[[0]].assign(sales_date=last_day, units=0.0, avg_price=np.nan, is_promo=False)
            history = pd.concat([history, pad], ignore_index=True)
        log.info("demand_forecaster: %d store-level sales rows from %s (%s .. %s)", len(history),
                 HISTORY_TABLE, history["sales_date"].min(), last_day)
        return history, found
    window_start = recent["sales_date"].min()
    older = history.loc[history["sales_date"] < window_start].drop(columns="store_id")
    log.info("demand_forecaster: %d rows from %s before %s + %d rows of %s", len(older), HISTORY_TABLE,
             window_start, len(recent), FEATURE_TABLE)
    return pd.concat([older, recent], ignore_index=True), found


def read_categories(as_of_date: date) -> dict[str, str]:
    """product -> category from the ``item_features`` partition valid at ``as_of_date``."""
    items, _ = read_daily_features(ITEM_TABLE, as_of_date)
    if items.empty or "category" not in items.columns:
        return {}
    items = items.dropna(subset=["category"])
    return dict(zip(items["product_id"].astype(str), items["category"].astype(str), strict=True))


def read_calendar() -> pd.DataFrame | None:
    """The events calendar from the first existing ``CALENDAR_TABLES`` entry, or None
    (no calendar: the event inputs are zeros, which the model learns to ignore)."""
    from tasks.warehouse import qualified, read_frame, table_exists

    for table in CALENDAR_TABLES:
        try:
            if table_exists(table):
                frame = read_frame(f"SELECT * FROM {qualified(table)}")
                log.info("demand_forecaster: calendar from %s (%d rows)", table, len(frame))
                return frame
        except Exception:  # a malformed optional table must not stop forecasting
            log.exception("demand_forecaster: could not read calendar %s; continuing without", table)
    log.info("demand_forecaster: no calendar table (%s); no event inputs", ", ".join(CALENDAR_TABLES))
    return None


def served_forecast(art: Artefact, panel: Panel, origin: int, device: torch.device) -> np.ndarray:
    """(P, H', 4) forecasts of what the artefact serves: its learned model, or the
    baseline its ``serving_strategy`` names (``baseline:<name>``), refitted on the panel up
    to ``origin``."""
    strategy = art.serving_strategy
    served = strategy.split(":", 1)[1] if strategy.startswith("baseline:") else LEARNED
    cfg = config_from_dict(DemandConfig, art.config)
    horizon = grain_spec(cfg, panel.grain).horizon
    if served == LEARNED:
        model, cfg = load_model(art, device)
        return forecast(model, panel, origin, cfg, device)
    return baseline_forecasts(panel, origin, horizon, (served,))[served]


def predict_frame(art: Artefact, sales: pd.DataFrame, device: torch.device,
                  categories: dict[str, str] | None = None,
                  calendar: pd.DataFrame | None = None) -> pd.DataFrame:
    """Forecast rows (item_id, location_id, forecast_date, p10, p50, p90, price_p50) for
    the H periods after the last sales period. ``item_id`` is the series key
    (``product@location`` when the source has locations); price_p50 is null for
    never-priced series. ``forecast_date`` labels the period: the day (daily), the
    week's last day, i.e. the weekday the source's weeks land on (weekly), the
    month's first day (monthly)."""
    grain = str(art.preprocessing.get("grain", "daily"))
    panel = to_panel(sales, categories, calendar, grain)
    origin = panel.n_days
    pred = served_forecast(art, panel, origin, device)
    h = pred.shape[1]
    dates = period_dates(panel.dates[0], grain, origin, origin + h)
    price = pred[..., 3].reshape(-1)
    return pd.DataFrame({
        "item_id": np.repeat(panel.products, h),
        "location_id": np.repeat(np.array(panel.locations, dtype=object), h),
        "forecast_date": [d for _ in panel.products for d in dates],
        "p10": pred[..., 0].reshape(-1), "p50": pred[..., 1].reshape(-1), "p90": pred[..., 2].reshape(-1),
        "price_p50": np.where(np.isfinite(price), price, np.nan),
    })


def train(as_of_date: date, run_id: str, cfg: DemandConfig | None = None) -> TrainResult:
    """Recipe: sales partition -> grain -> holdout -> quantile MLP vs statsforecast
    baselines -> register the better of the two candidates."""
    cfg = cfg or DemandConfig()
    device = pick_device()
    sales, found = read_sales(as_of_date, cfg.max_history_days)
    if found is None or sales.empty:
        return TrainResult.skipped(MODEL_NAME, f"no {FEATURE_TABLE} partition at or before {as_of_date}")
    first = pd.Timestamp(pd.to_datetime(sales["sales_date"]).min()).date()
    window = DataWindow(as_of_instant(first), as_of_instant(found))
    categories = read_categories(found)
    calendar = read_calendar()
    try:
        fitted = fit_and_evaluate(sales, cfg, device, categories, calendar)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        """The champion (learned or baseline) on exactly the new holdout's cells."""
        if str(art.preprocessing.get("grain", "daily")) != fitted.panel.grain:
            raise ValueError("champion was trained at another grain")
        pred = served_forecast(art, fitted.panel, fitted.origin, device)
        if pred.shape[1] < fitted.eval_days:
            raise ValueError(f"champion horizon {pred.shape[1]} < holdout {fitted.eval_days} periods")
        return forecast_metrics(fitted.panel, fitted.origin, pred[:, : fitted.eval_days])

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model,
        preprocessing={"features": list(FEATURES), "quantiles": list(QUANTILES), "grain": fitted.extra["grain"],
                       "target_transform": "slog(units) - mean(slog(context))",
                       "price_transform": "log(price / last observed price)"},
        metrics=fitted.metrics, baselines=fitted.baselines, main_metric=MAIN_METRIC, higher_is_better=False,
        evaluate_champion=evaluate_champion, servable=servable_baselines(fitted.baselines),
        training_inputs={"sales": sales, "categories": categories, "calendar": calendar},
        extra_metrics={"loss_history": fitted.loss_history, "feature_partition": found.isoformat(),
                       "n_series": len(fitted.panel.products), **fitted.extra})
