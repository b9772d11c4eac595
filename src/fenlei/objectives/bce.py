"""Multi-label: an independent sigmoid per label, trained with binary cross-entropy.

``batch["labels"]`` is multi-hot [B, C]. The loss is the mean over every (example, label)
cell, as ``BCEWithLogitsLoss`` computes it. ``objective.class_weights`` weights each label's
positive term (``pos_weight``; ``balanced`` = negatives / positives in train) and
``objective.label_smoothing`` pulls the 0/1 targets towards 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from fenlei.errors import ConfigError
from fenlei.objectives import Context, Needs, ObjectiveParams, register_objective


def pos_weight_tensor(spec, train_label_ids: Sequence, num_labels: int) -> torch.Tensor | None:
    """Weights of each label's positive term: None, an explicit list, or 'balanced' (neg / pos)."""
    if spec is None:
        return None
    if spec == "balanced":
        hot = np.asarray(train_label_ids, dtype=np.float64).reshape(-1, num_labels)
        pos = hot.sum(0)
        return torch.tensor((len(hot) - pos) / np.maximum(pos, 1.0), dtype=torch.float32)
    if len(spec) != num_labels:
        raise ConfigError(
            f"objective.class_weights has {len(spec)} values but the data has {num_labels} labels; "
            "give one weight (of the label's positive examples) per label in labels.json order, or 'balanced'"
        )
    return torch.tensor(spec, dtype=torch.float32)


class BCE:
    """Sigmoid + binary cross-entropy over multi-hot labels."""

    def __init__(self, pos_weight: torch.Tensor | None = None, label_smoothing: float = 0.0) -> None:
        self.pos_weight = pos_weight
        self.label_smoothing = label_smoothing

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean BCE over the batch's (example, label) cells."""
        logits = logits.float()
        target = labels.to(logits.dtype)
        if self.label_smoothing:
            target = target * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        weight = None if self.pos_weight is None else self.pos_weight.to(logits.device)
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight)

    def __call__(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        logits = model(batch)
        return {"loss": self.loss(logits, batch["labels"]), "logits": logits}


@register_objective("bce", needs=Needs(labels="multi_label"))
def _bce(cfg, params: ObjectiveParams, ctx: Context) -> BCE:
    """Multi-label: a sigmoid per label with binary cross-entropy."""
    return BCE(
        pos_weight_tensor(cfg.class_weights, ctx.train_label_ids, ctx.num_classes), cfg.label_smoothing
    )
