"""The uplift network: one shared trunk, two heads (control / treated), TARNet-style.

Both heads see the same representation, so the few hundred rows of each arm train one trunk
together, and the difference of the two heads' probabilities is the expected uplift:
``uplift = sigmoid(treated logit) - sigmoid(control logit)``. Each row trains only the head
of the arm it was randomised to (its counterfactual outcome is unknown).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tasks.train.tabular import hidden_layers


class TwoHeadUpliftNet(nn.Module):
    def __init__(self, n_in: int, hidden: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        layers, width = hidden_layers(n_in, hidden, dropout)
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.Linear(width, 2)  # column 0: control, column 1: treated

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (n, 2): control, treated."""
        return self.heads(self.trunk(x))


def arm_bce(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """BCE of the head each row was randomised to."""
    logits = model(batch["x"]).float()
    own = logits.gather(1, batch["t"].long().unsqueeze(1)).squeeze(1)
    return nn.functional.binary_cross_entropy_with_logits(own, batch["y"])


@torch.no_grad()
def arm_probabilities(model: nn.Module, x: np.ndarray, device: torch.device) -> np.ndarray:
    """(n, 2) conversion probabilities without / with the campaign."""
    if len(x) == 0:
        return np.zeros((0, 2))
    model.to(device).eval()
    return torch.sigmoid(model(torch.as_tensor(x, device=device)).float()).cpu().numpy().astype(float)


def uplift_attributions(model: nn.Module, x: np.ndarray, device: torch.device) -> np.ndarray:
    """Gradient x input of the predicted uplift per input column (n, n_inputs): which inputs
    pushed a user's uplift up or down relative to the average (standardised) user."""
    if len(x) == 0:
        return np.zeros_like(x)
    model.to(device).eval()
    xt = torch.as_tensor(x, device=device).clone().requires_grad_(True)
    p = torch.sigmoid(model(xt).float())
    (p[:, 1] - p[:, 0]).sum().backward()
    return (xt.grad * xt).detach().cpu().numpy().astype(float)


class UpliftEnsemble(nn.Module):
    """Members trained from different seeds; forward gives the log-odds of their mean
    probability per arm, so every helper above works on the ensemble as on one net."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], dropout: float, members: int) -> None:
        super().__init__()
        self.members = nn.ModuleList(TwoHeadUpliftNet(n_in, hidden, dropout) for _ in range(members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.stack([torch.sigmoid(m(x).float()) for m in self.members]).mean(0)
        p = p.clamp(1e-6, 1 - 1e-6)
        return torch.log(p) - torch.log1p(-p)
