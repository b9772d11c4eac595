"""R-Drop (Liang et al. 2021): two dropout passes agree with each other.

loss = mean CE of the two passes + alpha x symmetric KL between their distributions. Both
passes run as one forward over the batch stacked on itself, so dropout masks differ while
the model is called once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from fenlei.data.batching import repeat_batch
from fenlei.errors import ConfigError
from fenlei.objectives import Context, ObjectiveParams, register_objective
from fenlei.objectives.supervised import CrossEntropy, supervised_loss
from fenlei.tuning.space import Float


def symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """0.5 x (KL(p_a || p_b) + KL(p_b || p_a)), summed over classes, mean over the batch."""
    log_a = F.log_softmax(logits_a.float(), -1)
    log_b = F.log_softmax(logits_b.float(), -1)
    kl_ab = F.kl_div(log_b, log_a, log_target=True, reduction="batchmean")  # KL(a || b)
    kl_ba = F.kl_div(log_a, log_b, log_target=True, reduction="batchmean")
    return 0.5 * (kl_ab + kl_ba)


class RDrop:
    """Cross-entropy of two dropout passes plus ``alpha`` x their symmetric KL."""

    def __init__(self, ce: CrossEntropy, alpha: float) -> None:
        self.ce = ce
        self.alpha = alpha

    def __call__(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        logits_a, logits_b = model(repeat_batch(batch, 2)).chunk(2)
        labels = batch["labels"]
        ce = 0.5 * (self.ce.loss(logits_a, labels) + self.ce.loss(logits_b, labels))
        kl = symmetric_kl(logits_a, logits_b)
        return {"loss": ce + self.alpha * kl, "logits": logits_a, "ce": ce, "kl": kl}


@dataclass
class RDropParams(ObjectiveParams):
    """Parameters of ``rdrop``.

    rdrop_alpha: weight of the symmetric KL between the two dropout passes.
    """

    rdrop_alpha: float = 5.0
    search_space: ClassVar[dict] = {"rdrop_alpha": Float(0.5, 10.0, log=True)}

    def __post_init__(self) -> None:
        if isinstance(self.rdrop_alpha, bool) or not isinstance(self.rdrop_alpha, (int, float)):
            raise ConfigError(f"objective.rdrop_alpha must be a number, got {self.rdrop_alpha!r}")
        if self.rdrop_alpha < 0:
            raise ConfigError("objective.rdrop_alpha must be >= 0 (0 = the mean CE of two passes)")


@register_objective("rdrop", RDropParams)
def _rdrop(cfg, params: RDropParams, ctx: Context) -> RDrop:
    """R-Drop (Liang et al. 2021): two dropout passes agree with each other."""
    return RDrop(supervised_loss(cfg, ctx.train_label_ids, ctx.num_classes), params.rdrop_alpha)
