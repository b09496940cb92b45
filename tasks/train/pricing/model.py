"""What an artefact stores: every candidate's per-product parameters, fitted on the whole window.

``PricingParameters`` is a torch module of buffers only (no learning happens in it) so it
saves and loads through the shared artefact code (``model.pt``, weights-only). Each slope
structure (the learned ``hierarchical`` one and the baselines) has its own buffers, so a
baseline that wins the holdout is served from the same file (``serving_strategy``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from tasks.train.pricing.elasticity import SLOPES, ElasticityFit

FIELDS = ("a", "beta", "beta_se", "ref_log_price", "level", "share", "gamma", "gamma_se")
SCALARS = ("level", "gamma", "gamma_se")


class PricingParameters(torch.nn.Module):
    def __init__(self, fits: Mapping[str, ElasticityFit] | None = None, recent_days: int = 7,
                 n_products: int = 0) -> None:
        super().__init__()
        for slope in SLOPES:
            fit = (fits or {}).get(slope)
            for name in FIELDS:
                if fit is None:
                    value = torch.zeros(() if name in SCALARS else n_products, dtype=torch.float64)
                elif name == "level":
                    value = torch.tensor(fit.level(recent_days), dtype=torch.float64)
                elif name in SCALARS:
                    value = torch.tensor(float(getattr(fit, name)), dtype=torch.float64)
                else:
                    value = torch.as_tensor(np.asarray(getattr(fit, name), dtype=np.float64))
                self.register_buffer(f"{slope}__{name}", value)

    def of(self, slope: str) -> dict[str, np.ndarray]:
        """The numpy parameters of one slope structure."""
        return {name: getattr(self, f"{slope}__{name}").numpy() for name in FIELDS}


def load_parameters(state_dict: Mapping[str, torch.Tensor]) -> PricingParameters:
    n = int(state_dict[f"{SLOPES[0]}__a"].shape[0])
    params = PricingParameters(n_products=n)
    params.load_state_dict(dict(state_dict))
    return params
