"""The learned ranker: an MLP scores each (search, product) feature row; trained listwise.

Loss: ListNet's top-one cross entropy between the softmax of the scores over the shown list
and the list's gains (2^g - 1, normalised), so the model learns to order a list, which is
what nDCG measures, rather than to predict a click rate per row.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn


class RowScorer(nn.Module):
    """Standardised features -> one relevance score per row (any leading shape)."""

    def __init__(self, n_features: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.GELU()]
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def listwise_loss(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """ListNet top-one loss over the masked list (lists without any gain are not trained on)."""
    scores = model(batch["x"]).float().masked_fill(~batch["mask"], float("-inf"))
    value = torch.where(batch["mask"], torch.pow(2.0, batch["gain"]) - 1.0, torch.zeros_like(batch["gain"]))
    target = value / value.sum(dim=1, keepdim=True).clamp_min(1e-9)
    log_p = torch.log_softmax(scores, dim=1).masked_fill(~batch["mask"], 0.0)
    return -(target * log_p).sum(dim=1).mean()


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, device: torch.device, batch: int = 8192) -> np.ndarray:
    """Scores for x of shape (..., F) in row batches (float64 numpy, same leading shape)."""
    model.eval()
    flat = x.reshape(-1, x.shape[-1])
    out = [model(torch.as_tensor(flat[i:i + batch], device=device)).float().cpu().numpy()
           for i in range(0, len(flat), batch)]
    scores = np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
    return scores.astype(float).reshape(x.shape[:-1])
