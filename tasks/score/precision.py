"""Reduced-precision scoring: int8 dynamic quantisation (CPU) or bfloat16.

Batch scoring is inference only, so the weights of the ``nn.Linear`` layers can
be stored as int8 and the activations quantised on the fly (PyTorch dynamic
quantisation) — less memory traffic on the CPU workers that do most scoring —
or the whole model cast to bfloat16 (CUDA, or CPUs with bf16 support).
``benchmarks/scoring_precision.py`` measures the speed-up and the accuracy loss
against fp32 on the same rows; pick the precision with
``ECOMFLOW_SCORING_PRECISION`` (default ``fp32``). Training, champion
evaluation and feature attributions always use the fp32 model.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "int8", "bf16")


class _Bf16(nn.Module):
    """Run a bfloat16 copy of ``inner``; float inputs are cast in, the output cast back to fp32."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        cast = [a.to(torch.bfloat16) if torch.is_tensor(a) and a.is_floating_point() else a for a in args]
        kw = {k: (v.to(torch.bfloat16) if torch.is_tensor(v) and v.is_floating_point() else v)
              for k, v in kwargs.items()}
        out = self.inner(*cast, **kw)
        return out.float() if torch.is_tensor(out) else out


def for_scoring(model: nn.Module, precision: str, device: torch.device) -> tuple[nn.Module, torch.device]:
    """A copy of ``model`` for inference at ``precision`` and the device it must run on.

    int8 dynamic quantisation exists for CPU kernels only, so an int8 request on CUDA
    falls back to bf16 (logged); the fp32 model is returned unchanged.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"scoring precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return model.eval(), device
    if precision == "int8" and device.type != "cpu":
        log.warning("int8 dynamic quantisation runs on CPU only; scoring on %s in bf16 instead", device)
        precision = "bf16"
    clone = copy.deepcopy(model).eval()
    if precision == "int8":
        quantised = torch.ao.quantization.quantize_dynamic(clone.cpu(), {nn.Linear}, dtype=torch.qint8)
        return quantised, torch.device("cpu")
    return _Bf16(clone.to(device=device, dtype=torch.bfloat16)).eval(), device
