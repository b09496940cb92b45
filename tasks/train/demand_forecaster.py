"""Demand forecaster: one global MLP over lag windows -> P10/P50/P90 for the next H days.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.demand_forecaster import train; \
               print(train(date(2024, 1, 31), 'manual'))"

1. Data window: the daily ``features.daily_item_sales`` partition valid at
   ``as_of_date`` (dense, zero-filled units for ``[as_of - 90d, as_of)``).
2. Holdout: the last ``eval_days`` days of every series, forecast from one origin.
   ``eval_days`` = H when the series is long enough to also train on full
   horizons (``T >= context_days + 2H``), else ``min(H, 14)``.
3. Model: for an origin t the input is the last ``context_days`` units in
   log1p space minus their mean (the series level ``m``), ``m`` itself,
   day-of-week of t, promo share of the last 7 days and the last price relative
   to the window mean. The MLP outputs, per horizon day, a median and two
   positive offsets, so P10 <= P50 <= P90 by construction. Loss: pinball at
   0.1/0.5/0.9, masked where the target day is past the training end.
   Quantiles survive the monotone log1p/level transform, so forecasts are
   ``expm1(output + m)`` clipped at 0.
4. Baseline: seasonal naive (weekly): P50 = same weekday last week; its
   P10/P90 are the 10 %/90 % quantiles of that weekday over the last 4 weeks.
5. Metrics: WAPE of P50 (main, lower is better), P10-P90 coverage, mean pinball.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import torch
from torch import nn

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
from tasks.train.metrics import interval_coverage, pinball_loss, wape
from tasks.train.recipe import save_and_register

log = logging.getLogger(__name__)

MODEL_NAME = "demand_forecaster"
MAIN_METRIC = "wape"
BASELINE = "seasonal_naive_weekly"
FEATURE_TABLE = "features.daily_item_sales"
QUANTILES = (0.1, 0.5, 0.9)
FEATURES = ("units_lags", "level", "day_of_week", "promo_share_7d", "price_ratio")


@dataclass(frozen=True)
class DemandConfig(TrainConfig):
    epochs: int = 20
    batch_size: int = 256
    lr: float = 3e-3
    context_days: int = 28
    horizon_days: int = 28
    hidden: tuple[int, ...] = (64,)
    min_series_days: int = 42

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

    @property
    def n_inputs(self) -> int:
        return self.context_days + 1 + 7 + 2


def eval_days_for(n_days: int, cfg: DemandConfig) -> int:
    """Holdout length: H for long series, min(H, 14) when a full-H holdout would
    leave too little to train on."""
    h = cfg.horizon_days
    return h if n_days >= cfg.context_days + 2 * h else min(h, 14)


# ------------------------------------------------------------- data prep ----
@dataclass
class Panel:
    """Dense product x day matrices (rows: products, columns: consecutive days)."""

    products: list[str]
    dates: list[date]
    units: np.ndarray
    promo: np.ndarray
    price: np.ndarray

    @property
    def n_days(self) -> int:
        return len(self.dates)


def to_panel(sales: pd.DataFrame) -> Panel:
    """Pivot ``daily_item_sales`` rows into dense matrices (missing days = 0 units,
    no promo, price carried from neighbouring days)."""
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
    price = pivot("avg_price").ffill(axis=1).bfill(axis=1).fillna(0.0).to_numpy()
    return Panel(products, [d.date() for d in days], units, promo, price)


def origin_inputs(panel: Panel, origin: int, cfg: DemandConfig) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (P, n_inputs), level m (P,)) for forecasting days ``origin..`` from the
    ``context_days`` before it. Days before the panel start count as zero sales."""
    lo = origin - cfg.context_days
    pad = max(0, -lo)
    units = panel.units[:, max(lo, 0):origin]
    if pad:
        units = np.concatenate([np.zeros((units.shape[0], pad)), units], axis=1)
    logs = np.log1p(np.clip(units, 0, None))
    level = logs.mean(axis=1)
    dow = np.zeros((units.shape[0], 7))
    origin_date = panel.dates[0] + timedelta(days=origin)
    dow[:, origin_date.weekday()] = 1.0
    promo7 = panel.promo[:, max(origin - 7, 0):origin].mean(axis=1) if origin > 0 else np.zeros(len(level))
    prices = panel.price[:, max(lo, 0):origin]
    mean_price = prices.mean(axis=1) if prices.shape[1] else np.zeros(len(level))
    last_price = prices[:, -1] if prices.shape[1] else np.zeros(len(level))
    ratio = np.where(mean_price > 0, last_price / np.where(mean_price > 0, mean_price, 1) - 1, 0.0)
    x = np.concatenate([logs - level[:, None], level[:, None] / 3.0, dow,
                        promo7[:, None], np.clip(ratio, -1, 1)[:, None]], axis=1)
    return x.astype(np.float32), level


def training_set(panel: Panel, train_end: int, cfg: DemandConfig) -> dict[str, torch.Tensor]:
    """Every (product, origin) with a full context window and at least one target day
    before ``train_end``; targets past it are masked out of the loss."""
    xs, ys, masks = [], [], []
    h = cfg.horizon_days
    for origin in range(cfg.context_days, train_end):
        x, level = origin_inputs(panel, origin, cfg)
        y = np.zeros((len(level), h))
        mask = np.zeros((len(level), h))
        stop = min(origin + h, train_end)
        y[:, : stop - origin] = np.log1p(panel.units[:, origin:stop]) - level[:, None]
        mask[:, : stop - origin] = 1.0
        xs.append(x)
        ys.append(y)
        masks.append(mask)
    if not xs:
        raise ValueError(f"series too short: {train_end} training days, context_days={cfg.context_days}")
    return {"x": torch.as_tensor(np.concatenate(xs), dtype=torch.float32),
            "y": torch.as_tensor(np.concatenate(ys), dtype=torch.float32),
            "mask": torch.as_tensor(np.concatenate(masks), dtype=torch.float32)}


# ----------------------------------------------------------------- model ----
class QuantileMLP(nn.Module):
    """inputs -> (H, 3) quantiles, non-crossing: P50 = a, P10 = a - softplus(b), P90 = a + softplus(c)."""

    def __init__(self, n_in: int, horizon: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for w in hidden:
            layers += [nn.Linear(width, w), nn.ReLU()]
            width = w
        layers.append(nn.Linear(width, horizon * 3))
        self.net = nn.Sequential(*layers)
        self.horizon = horizon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x).float().view(-1, self.horizon, 3)
        mid = out[..., 1]
        low = mid - nn.functional.softplus(out[..., 0])
        high = mid + nn.functional.softplus(out[..., 2])
        return torch.stack([low, mid, high], dim=-1)


def masked_pinball(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss over quantiles and unmasked (product, horizon) cells."""
    q = torch.tensor(QUANTILES, device=pred.device)
    diff = y.unsqueeze(-1) - pred  # (n, H, 3)
    loss = torch.maximum(q * diff, (q - 1) * diff).mean(dim=-1)
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)


def _loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return masked_pinball(model(batch["x"]), batch["y"], batch["mask"])


@torch.no_grad()
def forecast(model: QuantileMLP, panel: Panel, origin: int, cfg: DemandConfig,
             device: torch.device) -> np.ndarray:
    """(P, H, 3) unit forecasts (P10, P50, P90) for days ``origin .. origin + H - 1``."""
    x, level = origin_inputs(panel, origin, cfg)
    model.to(device).eval()
    out = model(torch.as_tensor(x, device=device)).cpu().numpy()
    return np.clip(np.expm1(out + level[:, None, None]), 0, None)


def seasonal_naive(panel: Panel, origin: int, days: int) -> np.ndarray:
    """(P, days, 3) baseline: P50 = same weekday last week; P10/P90 = 10 %/90 %
    quantiles of that weekday over the last 4 weeks available."""
    out = np.zeros((len(panel.products), days, 3))
    for h in range(days):
        same_weekday = [origin - 7 * k + (h % 7) for k in range(1, 5)]
        same_weekday = [d for d in same_weekday if 0 <= d < origin]
        if not same_weekday:
            continue
        values = panel.units[:, same_weekday]
        out[:, h, 1] = values[:, 0]
        out[:, h, 0] = np.quantile(values, 0.1, axis=1)
        out[:, h, 2] = np.quantile(values, 0.9, axis=1)
    return out


def forecast_metrics(actual: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """WAPE (P50), P10-P90 coverage and mean pinball over the three quantiles."""
    return {
        "wape": wape(actual, pred[..., 1]),
        "coverage_p10_p90": interval_coverage(actual, pred[..., 0], pred[..., 2]),
        "pinball": float(np.mean([pinball_loss(actual, pred[..., i], q) for i, q in enumerate(QUANTILES)])),
    }


@dataclass
class Fitted:
    model: QuantileMLP
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    panel: Panel
    origin: int
    eval_days: int
    loss_history: list[float]


def fit_and_evaluate(sales: pd.DataFrame, cfg: DemandConfig, device: torch.device) -> Fitted:
    """Holdout = the last ``eval_days`` days; train on everything before them."""
    panel = to_panel(sales)
    if panel.n_days < cfg.min_series_days:
        raise ValueError(f"only {panel.n_days} days of sales (< min_series_days={cfg.min_series_days})")
    e = eval_days_for(panel.n_days, cfg)
    origin = panel.n_days - e
    setup_torch(cfg)
    tensors = training_set(panel, origin, cfg)
    model = QuantileMLP(cfg.n_inputs, cfg.horizon_days, cfg.hidden)
    history = fit(model, tensors, _loss, cfg, device)
    actual = panel.units[:, origin:]
    metrics = forecast_metrics(actual, forecast(model, panel, origin, cfg, device)[:, :e])
    baseline = forecast_metrics(actual, seasonal_naive(panel, origin, e))
    metrics["eval_days"] = baseline["eval_days"] = float(e)
    return Fitted(model, metrics, baseline, panel, origin, e, history)


def load_model(art: Artefact, device: torch.device) -> tuple[QuantileMLP, DemandConfig]:
    cfg = config_from_dict(DemandConfig, art.config)
    model = QuantileMLP(cfg.n_inputs, cfg.horizon_days, cfg.hidden)
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), cfg


def predict_frame(art: Artefact, sales: pd.DataFrame, device: torch.device) -> pd.DataFrame:
    """Forecast rows (item_id, forecast_date, p10, p50, p90) for the H days after the
    last sales date in ``sales``."""
    model, cfg = load_model(art, device)
    panel = to_panel(sales)
    origin = panel.n_days
    pred = forecast(model, panel, origin, cfg, device)
    first = panel.dates[-1] + timedelta(days=1)
    rows = {
        "item_id": np.repeat(panel.products, cfg.horizon_days),
        "forecast_date": [first + timedelta(days=h) for _ in panel.products for h in range(cfg.horizon_days)],
        "p10": pred[..., 0].reshape(-1), "p50": pred[..., 1].reshape(-1), "p90": pred[..., 2].reshape(-1),
    }
    return pd.DataFrame(rows)


def train(as_of_date: date, run_id: str, cfg: DemandConfig | None = None) -> TrainResult:
    """Recipe: sales partition -> last-days holdout -> quantile MLP vs seasonal naive -> register."""
    cfg = cfg or DemandConfig()
    device = pick_device()
    sales, found = read_daily_features(FEATURE_TABLE, as_of_date)
    if found is None or sales.empty:
        return TrainResult.skipped(MODEL_NAME, f"no {FEATURE_TABLE} partition at or before {as_of_date}")
    first = pd.Timestamp(pd.to_datetime(sales["sales_date"]).min()).date()
    window = DataWindow(as_of_instant(first), as_of_instant(found))
    try:
        fitted = fit_and_evaluate(sales, cfg, device)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)
    actual = fitted.panel.units[:, fitted.origin:]

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        champ, champ_cfg = load_model(art, device)
        if champ_cfg.horizon_days < fitted.eval_days:
            raise ValueError(f"champion horizon {champ_cfg.horizon_days} < holdout {fitted.eval_days} days")
        pred = forecast(champ, fitted.panel, fitted.origin, champ_cfg, device)[:, : fitted.eval_days]
        return forecast_metrics(actual, pred)

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model, preprocessing={"features": list(FEATURES), "quantiles": list(QUANTILES),
                                           "target_transform": "log1p(units) - mean(log1p(context))"},
        metrics=fitted.metrics, baselines={BASELINE: fitted.baseline_metrics},
        main_metric=MAIN_METRIC, higher_is_better=False, evaluate_champion=evaluate_champion,
        extra_metrics={"loss_history": fitted.loss_history, "feature_partition": found.isoformat(),
                       "n_series": len(fitted.panel.products)},
    )
