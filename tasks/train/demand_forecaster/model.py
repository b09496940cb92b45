"""The quantile MLP, its pinball + price loss, and forecasting from an origin."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tasks.train import forecast_baselines as fb
from tasks.train.common import (
    Artefact,
    config_from_dict,
)
from tasks.train.demand_forecaster.config import QUANTILES, DemandConfig, grain_spec
from tasks.train.demand_forecaster.features import origin_inputs
from tasks.train.demand_forecaster.panel import Panel, from_space

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
             device: torch.device, linear_returns: bool = True) -> np.ndarray:
    """(P, H, 4) forecasts for periods ``origin .. origin + H - 1``: unit P10, P50, P90
    and the P50 price (NaN for series whose price was never observed). Series that
    never had returns are clipped at 0; the others may forecast negative demand.
    ``linear_returns`` must be what the model was trained with (``TARGET_TRANSFORM``)."""
    x, level, scale = origin_inputs(panel, origin, cfg, linear_returns=linear_returns)
    model.to(device).eval()
    out = model(torch.as_tensor(x, device=device)).cpu().numpy().astype(np.float64)
    units = from_space(out[..., :3] + level[:, None, None], scale)
    units = np.where(_nonneg(panel, origin)[:, None, None], np.clip(units, 0, None), units)
    last = fb.last_observed(panel.price, panel.price_observed, origin)
    price = last[:, None] * np.exp(np.clip(out[..., 3], -3, 3))
    return np.concatenate([units, price[..., None]], axis=-1)


def load_model(art: Artefact, device: torch.device) -> tuple[QuantileMLP, DemandConfig]:
    """The learned model of an artefact at the grain it was trained on."""
    cfg = config_from_dict(DemandConfig, art.config)
    spec = grain_spec(cfg, str(art.preprocessing.get("grain", "daily")))
    model = QuantileMLP(spec.n_inputs, spec.horizon, cfg.hidden)
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), cfg
