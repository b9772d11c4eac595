"""Exponential moving average of the weights (Polyak averaging).

On small data the dev score jumps from epoch to epoch; evaluating and saving an average of
recent weights removes much of that noise and usually scores higher than any single step.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class WeightEMA:
    """Shadow copy of a model's floating-point tensors, updated after each optimiser step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the current weights in. The effective decay ramps up so early averages are not
        dominated by the random initialisation (as in TensorFlow's ExponentialMovingAverage)."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if v.dtype.is_floating_point:
                s.lerp_(v.detach(), 1.0 - d)
            else:
                s.copy_(v)

    @contextmanager
    def applied(self, model: nn.Module):
        """Run the block with the averaged weights in ``model``; the live weights come back after."""
        live = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield
        finally:
            model.load_state_dict(live)

    def tensors(self, prefix: str = "ema.") -> dict[str, torch.Tensor]:
        """The shadow weights under ``prefix``, for the resume checkpoint."""
        return {prefix + k: v for k, v in self.shadow.items()}

    def load(self, tensors: dict[str, torch.Tensor], updates: int, prefix: str = "ema.") -> None:
        """Restore from ``tensors`` written by :meth:`tensors`."""
        for k in self.shadow:
            self.shadow[k].copy_(tensors[prefix + k])
        self.updates = updates
