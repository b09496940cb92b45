"""Demand forecaster: one global quantile MLP over item and category daily series
-> P10/P50/P90 units and a P50 price for the next H days.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.demand_forecaster import train; \
               print(train(date(2024, 1, 31), 'manual'))"

1. Data window: the daily ``features.daily_item_sales`` partition valid at
   ``as_of_date`` (dense, zero-filled units for ``[as_of - 90d, as_of)``), and item
   categories from ``features.item_features`` (one "all" category without it).
2. Holdout: the last ``eval_days`` days of every series, forecast from one origin.
   ``eval_days`` = H when the series is long enough to also train on full
   horizons (``T >= context_days + 2H``), else ``min(H, 14)``. Training origins
   are every day before the holdout; target days inside it are masked out.
3. Model: for an origin t and product p the inputs are the last ``context_days``
   units in log1p space minus their mean (the level ``m``), ``m``, the same for
   the product's category series, the product's weekday profile, share of zero
   days, days since the last sale, calendar (day of week, month) of t, promo
   share of the last 7/28 days and price ratios. A shared MLP trunk outputs per
   horizon day a median and two positive offsets (so P10 <= P50 <= P90) and a
   price head: log(price / last observed price). Loss: pinball at 0.1/0.5/0.9
   plus ``price_loss_weight`` x L1 of the price head on days with an observed
   price. Quantiles survive the monotone log1p/level transform, so forecasts are
   ``expm1(output + m)`` clipped at 0.
4. Baselines on the same cells (``tasks/train/forecast_baselines.py``): seasonal
   naive (weekly), 28-day moving average and Holt-Winters additive weekly; their
   price forecast is the last observed price (the naive price baseline).
5. Metrics: WAPE of P50 (main, lower is better), MASE (scaled by each series'
   in-sample seasonal-naive MAE), P10-P90 coverage, mean pinball, and
   ``price_wape`` (WAPE of the P50 price on holdout days with a sale).
   WAPE is the main metric because it weighs errors by volume, i.e. by what
   mis-stocking costs; MASE weighs a one-unit-a-month item like a bestseller and
   is undefined for series that never sold before the origin (common on UCI).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

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
from tasks.train.recipe import save_and_register

log = logging.getLogger(__name__)

MODEL_NAME = "demand_forecaster"
MAIN_METRIC = "wape"
BASELINES = ("seasonal_naive_weekly", "moving_average_28d", "holt_winters_weekly")
FEATURE_TABLE = "features.daily_item_sales"
ITEM_TABLE = "features.item_features"
QUANTILES = (0.1, 0.5, 0.9)
FEATURES = ("units_lags", "level", "category_lags", "category_level", "weekday_profile", "zero_share",
            "days_since_sale", "day_of_week", "month", "promo_share_7d", "promo_share_28d", "price_ratios")
ALL_CATEGORY = "__all__"


@dataclass(frozen=True)
class DemandConfig(TrainConfig):
    epochs: int = 20
    batch_size: int = 256
    lr: float = 3e-3
    context_days: int = 28
    horizon_days: int = 28
    hidden: tuple[int, ...] = (128, 64)
    min_series_days: int = 42
    price_loss_weight: float = 0.5

    def validate(self) -> None:
        super().validate()
        if self.context_days < 7:
            raise ValueError("context_days must be >= 7 (one week, for the weekly pattern)")
        if self.horizon_days < 1:
            raise ValueError("horizon_days must be >= 1")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError("hidden must list at least one positive layer width")
        if self.min_series_days < self.context_days + 1:
            raise ValueError("min_series_days must exceed context_days")
        if self.price_loss_weight < 0:
            raise ValueError("price_loss_weight must be >= 0")

    @property
    def n_inputs(self) -> int:
        return 2 * self.context_days + 2 + 7 + 2 + 7 + 2 + 2 + 3


def eval_days_for(n_days: int, cfg: DemandConfig) -> int:
    """Holdout length: H for long series, min(H, 14) when a full-H holdout would
    leave too little to train on."""
    h = cfg.horizon_days
    return h if n_days >= cfg.context_days + 2 * h else min(h, 14)


# ------------------------------------------------------------- data prep ----
@dataclass
class Panel:
    """Dense product x day matrices (rows: products, columns: consecutive days).

    ``price`` is forward/back-filled for convenience; ``price_observed`` says where
    a price was actually seen (a sale that day), so nothing reads a back-filled
    future price as if it were known. ``category`` indexes ``categories``.
    """

    products: list[str]
    dates: list[date]
    units: np.ndarray
    promo: np.ndarray
    price: np.ndarray
    price_observed: np.ndarray | None = None
    category: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.price_observed is None:
            self.price_observed = (self.units > 0) & (self.price > 0)
        if self.category is None:
            self.category = np.zeros(len(self.products), dtype=np.int64)

    @property
    def n_days(self) -> int:
        return len(self.dates)


def to_panel(sales: pd.DataFrame, categories: dict[str, str] | None = None) -> Panel:
    """Pivot ``daily_item_sales`` rows into dense matrices (missing days = 0 units,
    no promo, price carried from neighbouring days). ``categories`` maps product ->
    category (missing products share one category)."""
    frame = sales.copy()
    frame["sales_date"] = pd.to_datetime(frame["sales_date"])
    first, last = frame["sales_date"].min(), frame["sales_date"].max()
    days = pd.date_range(first, last, freq="D")
    products = sorted(frame["product_id"].astype(str).unique())
    frame["product_id"] = frame["product_id"].astype(str)

    def pivot(col: str) -> pd.DataFrame:
        values = frame.assign(v=pd.to_numeric(frame[col].astype(float), errors="coerce"))
        wide = values.pivot_table(index="product_id", columns="sales_date", values="v", aggfunc="sum",
                                  dropna=False)
        return wide.reindex(index=products, columns=days).astype(float)

    units = pivot("units").fillna(0.0).to_numpy()
    promo = pivot("is_promo").fillna(0.0).clip(0, 1).to_numpy()
    raw_price = pivot("avg_price")
    observed = (raw_price.notna().to_numpy() & (raw_price.fillna(0).to_numpy() > 0) & (units > 0))
    price = raw_price.ffill(axis=1).bfill(axis=1).fillna(0.0).to_numpy()
    cats = [(categories or {}).get(p) or ALL_CATEGORY for p in products]
    names = sorted(set(cats))
    category = np.array([names.index(c) for c in cats], dtype=np.int64)
    return Panel(products, [d.date() for d in days], units, promo, price, observed, category)


def _window(matrix: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Columns [lo, hi) with days before the panel start as zeros."""
    pad = max(0, -lo)
    part = matrix[:, max(lo, 0):hi]
    return np.concatenate([np.zeros((matrix.shape[0], pad)), part], axis=1) if pad else part


def origin_inputs(panel: Panel, origin: int, cfg: DemandConfig) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (P, n_inputs), level m (P,)) for forecasting days ``origin..`` from the
    ``context_days`` before it. Days before the panel start count as zero sales."""
    c = cfg.context_days
    units = _window(panel.units, origin - c, origin)
    logs = np.log1p(np.clip(units, 0, None))
    level = logs.mean(axis=1)
    # Category series: mean log1p units of the category's products (the product's own included).
    cat = panel.category
    n_cat = int(cat.max()) + 1 if len(cat) else 1
    cat_sum = np.zeros((n_cat, c))
    np.add.at(cat_sum, cat, logs)
    cat_logs = (cat_sum / np.maximum(np.bincount(cat, minlength=n_cat), 1)[:, None])[cat]
    cat_level = cat_logs.mean(axis=1)
    origin_date = panel.dates[0] + timedelta(days=origin)
    # Day of week of each context column, aligned so the profile is indexed by weekday.
    weekday = np.array([(origin_date - timedelta(days=c - j)).weekday() for j in range(c)])
    profile = np.stack([logs[:, weekday == d].mean(axis=1) if (weekday == d).any() else level
                        for d in range(7)], axis=1) - level[:, None]
    dow = np.zeros((len(level), 7))
    dow[:, origin_date.weekday()] = 1.0
    month = 2 * np.pi * (origin_date.month - 1) / 12
    sold = units > 0
    since = np.where(sold.any(axis=1), c - 1 - np.argmax(sold[:, ::-1], axis=1), c) / c
    promo7 = _window(panel.promo, origin - 7, origin).mean(axis=1)
    promo28 = _window(panel.promo, origin - 28, origin).mean(axis=1)
    obs = _window(panel.price_observed.astype(float), origin - c, origin) > 0
    prices = _window(panel.price, origin - c, origin)
    last = fb.last_observed(panel.price, panel.price_observed, origin)
    with np.errstate(invalid="ignore", divide="ignore"):
        seen = np.where(obs, prices, np.nan)
        med = np.nanmedian(np.where(obs.any(axis=1)[:, None], seen, 1.0), axis=1)
        mean = np.nanmean(np.where(obs.any(axis=1)[:, None], seen, 1.0), axis=1)
        ratio_med = np.where(np.isfinite(last) & (last > 0), np.log(med / last), 0.0)
        ratio_mean = np.where(np.isfinite(last) & (last > 0), np.log(mean / last), 0.0)
    x = np.concatenate([
        logs - level[:, None], level[:, None] / 3.0, cat_logs - cat_level[:, None], cat_level[:, None] / 3.0,
        profile, sold.mean(axis=1)[:, None], since[:, None], dow,
        np.full((len(level), 1), np.sin(month)), np.full((len(level), 1), np.cos(month)),
        promo7[:, None], promo28[:, None],
        np.clip(np.nan_to_num(ratio_med), -1, 1)[:, None], np.clip(np.nan_to_num(ratio_mean), -1, 1)[:, None],
        obs.mean(axis=1)[:, None],
    ], axis=1)
    return x.astype(np.float32), level


def price_targets(panel: Panel, origin: int, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log(price / last price) (P, days), mask (P, days), last price (P,)) for days
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


def training_set(panel: Panel, train_end: int, cfg: DemandConfig) -> dict[str, torch.Tensor]:
    """Every (product, origin) with a full context window and at least one target day
    before ``train_end``; targets past it are masked out of the loss."""
    xs, ys, masks, pys, pmasks = [], [], [], [], []
    h = cfg.horizon_days
    for origin in range(cfg.context_days, train_end):
        x, level = origin_inputs(panel, origin, cfg)
        y = np.zeros((len(level), h))
        mask = np.zeros((len(level), h))
        stop = min(origin + h, train_end)
        y[:, : stop - origin] = np.log1p(panel.units[:, origin:stop]) - level[:, None]
        mask[:, : stop - origin] = 1.0
        py, pmask, _ = price_targets(panel, origin, stop - origin)
        pys.append(np.pad(py, ((0, 0), (0, h - py.shape[1]))))
        pmasks.append(np.pad(pmask, ((0, 0), (0, h - pmask.shape[1]))))
        xs.append(x)
        ys.append(y)
        masks.append(mask)
    if not xs:
        raise ValueError(f"series too short: {train_end} training days, context_days={cfg.context_days}")

    def cat(parts: list[np.ndarray]) -> torch.Tensor:
        return torch.as_tensor(np.concatenate(parts), dtype=torch.float32)

    return {"x": cat(xs), "y": cat(ys), "mask": cat(masks), "price_y": cat(pys), "price_mask": cat(pmasks)}


# ----------------------------------------------------------------- model ----
N_PRICE_INPUTS = 5  # the last inputs: promo share 7d/28d, log(median/last), log(mean/last), priced-day share


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
        # The last price is kept exactly unless it differs from the context's median
        # price (e.g. the last sale was a discounted or bulk one).
        moved = (x[:, -3].abs() > 1e-6).float()[:, None]
        price = self.price(x[:, -N_PRICE_INPUTS:]).float() * moved
        return torch.stack([low, mid, high, price], dim=-1)


def masked_pinball(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss over quantiles and unmasked (product, horizon) cells."""
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


@torch.no_grad()
def forecast(model: QuantileMLP, panel: Panel, origin: int, cfg: DemandConfig,
             device: torch.device) -> np.ndarray:
    """(P, H, 4) forecasts for days ``origin .. origin + H - 1``: unit P10, P50, P90
    and the P50 price (NaN for products whose price was never observed)."""
    x, level = origin_inputs(panel, origin, cfg)
    model.to(device).eval()
    out = model(torch.as_tensor(x, device=device)).cpu().numpy().astype(np.float64)
    units = np.clip(np.expm1(out[..., :3] + level[:, None, None]), 0, None)
    last = fb.last_observed(panel.price, panel.price_observed, origin)
    price = last[:, None] * np.exp(np.clip(out[..., 3], -3, 3))
    return np.concatenate([units, price[..., None]], axis=-1)


def seasonal_naive(panel: Panel, origin: int, days: int) -> np.ndarray:
    """(P, days, 3) the weekly seasonal naive baseline (see ``forecast_baselines``)."""
    return fb.seasonal_naive(panel.units, origin, days)


def baseline_forecasts(panel: Panel, origin: int, days: int) -> dict[str, np.ndarray]:
    """(P, days, 4) per baseline: its units quantiles plus the last observed price."""
    price = fb.last_price(panel.price, panel.price_observed, origin, days)[..., None]
    units = {"seasonal_naive_weekly": fb.seasonal_naive(panel.units, origin, days),
             "moving_average_28d": fb.moving_average(panel.units, origin, days, 28),
             "holt_winters_weekly": fb.holt_winters(panel.units, origin, days)}
    return {name: np.concatenate([u, price], axis=-1) for name, u in units.items()}


def forecast_metrics(panel: Panel, origin: int, pred: np.ndarray) -> dict[str, float]:
    """Metrics of (P, days, 4) forecasts against the panel's days ``origin..``:
    WAPE (P50), MASE (in-sample = days before the origin), P10-P90 coverage, mean
    pinball, and price WAPE on days with an observed price."""
    days = pred.shape[1]
    actual = panel.units[:, origin:origin + days]
    py, pmask, last = price_targets(panel, origin, days)
    pmask = pmask > 0
    price_actual = np.where(pmask, last[:, None] * np.exp(py), 0.0)
    return {
        "wape": wape(actual, pred[..., 1]),
        "mase": mase(actual, pred[..., 1], panel.units[:, :origin]),
        "coverage_p10_p90": interval_coverage(actual, pred[..., 0], pred[..., 2]),
        "pinball": float(np.mean([pinball_loss(actual, pred[..., i], q) for i, q in enumerate(QUANTILES)])),
        "price_wape": wape(price_actual[pmask], pred[..., 3][pmask]) if pmask.any() else float("nan"),
        "eval_days": float(days),
    }


@dataclass
class Fitted:
    model: QuantileMLP
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    panel: Panel
    origin: int
    eval_days: int
    loss_history: list[float]


def fit_and_evaluate(sales: pd.DataFrame, cfg: DemandConfig, device: torch.device,
                     categories: dict[str, str] | None = None) -> Fitted:
    """Holdout = the last ``eval_days`` days; train on everything before them."""
    panel = to_panel(sales, categories)
    if panel.n_days < cfg.min_series_days:
        raise ValueError(f"only {panel.n_days} days of sales (< min_series_days={cfg.min_series_days})")
    e = eval_days_for(panel.n_days, cfg)
    origin = panel.n_days - e
    setup_torch(cfg)
    tensors = training_set(panel, origin, cfg)
    model = QuantileMLP(cfg.n_inputs, cfg.horizon_days, cfg.hidden)
    history = fit(model, tensors, make_loss(cfg), cfg, device)
    metrics = forecast_metrics(panel, origin, forecast(model, panel, origin, cfg, device)[:, :e])
    baselines = {name: forecast_metrics(panel, origin, pred)
                 for name, pred in baseline_forecasts(panel, origin, e).items()}
    log.info("demand_forecaster: model %s; baselines %s", metrics, baselines)
    return Fitted(model, metrics, baselines, panel, origin, e, history)


def load_model(art: Artefact, device: torch.device) -> tuple[QuantileMLP, DemandConfig]:
    cfg = config_from_dict(DemandConfig, art.config)
    model = QuantileMLP(cfg.n_inputs, cfg.horizon_days, cfg.hidden)
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), cfg


def read_categories(as_of_date: date) -> dict[str, str]:
    """product -> category from the ``item_features`` partition valid at ``as_of_date``."""
    items, _ = read_daily_features(ITEM_TABLE, as_of_date)
    if items.empty or "category" not in items.columns:
        return {}
    items = items.dropna(subset=["category"])
    return dict(zip(items["product_id"].astype(str), items["category"].astype(str), strict=True))


def predict_frame(art: Artefact, sales: pd.DataFrame, device: torch.device,
                  categories: dict[str, str] | None = None) -> pd.DataFrame:
    """Forecast rows (item_id, forecast_date, p10, p50, p90, price_p50) for the H days
    after the last sales date in ``sales``; price_p50 is null for never-priced items."""
    model, cfg = load_model(art, device)
    panel = to_panel(sales, categories)
    origin = panel.n_days
    pred = forecast(model, panel, origin, cfg, device)
    first = panel.dates[-1] + timedelta(days=1)
    price = pred[..., 3].reshape(-1)
    rows = {
        "item_id": np.repeat(panel.products, cfg.horizon_days),
        "forecast_date": [first + timedelta(days=h) for _ in panel.products for h in range(cfg.horizon_days)],
        "p10": pred[..., 0].reshape(-1), "p50": pred[..., 1].reshape(-1), "p90": pred[..., 2].reshape(-1),
        "price_p50": np.where(np.isfinite(price), price, np.nan),
    }
    return pd.DataFrame(rows)


def train(as_of_date: date, run_id: str, cfg: DemandConfig | None = None) -> TrainResult:
    """Recipe: sales partition -> last-days holdout -> quantile MLP vs baselines -> register."""
    cfg = cfg or DemandConfig()
    device = pick_device()
    sales, found = read_daily_features(FEATURE_TABLE, as_of_date)
    if found is None or sales.empty:
        return TrainResult.skipped(MODEL_NAME, f"no {FEATURE_TABLE} partition at or before {as_of_date}")
    first = pd.Timestamp(pd.to_datetime(sales["sales_date"]).min()).date()
    window = DataWindow(as_of_instant(first), as_of_instant(found))
    categories = read_categories(found)
    try:
        fitted = fit_and_evaluate(sales, cfg, device, categories)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        champ, champ_cfg = load_model(art, device)
        if champ_cfg.horizon_days < fitted.eval_days:
            raise ValueError(f"champion horizon {champ_cfg.horizon_days} < holdout {fitted.eval_days} days")
        pred = forecast(champ, fitted.panel, fitted.origin, champ_cfg, device)[:, : fitted.eval_days]
        return forecast_metrics(fitted.panel, fitted.origin, pred)

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model, preprocessing={"features": list(FEATURES), "quantiles": list(QUANTILES),
                                           "target_transform": "log1p(units) - mean(log1p(context))",
                                           "price_transform": "log(price / last observed price)"},
        metrics=fitted.metrics, baselines=fitted.baselines,
        main_metric=MAIN_METRIC, higher_is_better=False, evaluate_champion=evaluate_champion,
        extra_metrics={"loss_history": fitted.loss_history, "feature_partition": found.isoformat(),
                       "n_series": len(fitted.panel.products)},
    )
