"""Supervised cross-entropy with optional label smoothing and class weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from fenlei.errors import ConfigError
from fenlei.objectives import OBJECTIVES


def class_weight_tensor(spec, train_label_ids: Sequence[int], num_classes: int) -> torch.Tensor | None:
    """Per-class loss weights: None, an explicit list, or 'balanced' (n / (K * count_k))."""
    if spec is None:
        return None
    if spec == "balanced":
        counts = np.bincount(np.asarray(train_label_ids, dtype=np.int64), minlength=num_classes)
        counts = np.maximum(counts, 1)  # a class absent from train must not divide by zero
        return torch.tensor(len(train_label_ids) / (num_classes * counts), dtype=torch.float32)
    if len(spec) != num_classes:
        raise ConfigError(
            f"objective.class_weights has {len(spec)} values but the data has {num_classes} labels; "
            "give one weight per label in labels.json order, or use 'balanced'"
        )
    return torch.tensor(spec, dtype=torch.float32)


class CrossEntropy:
    """Softmax cross-entropy; label smoothing and class weights are plain switches."""

    def __init__(self, label_smoothing: float = 0.0, weight: torch.Tensor | None = None) -> None:
        self.label_smoothing = label_smoothing
        self.weight = weight

    def __call__(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        logits = model(batch)
        weight = None if self.weight is None else self.weight.to(logits.device)
        loss = F.cross_entropy(
            logits.float(), batch["labels"], weight=weight, label_smoothing=self.label_smoothing
        )
        return {"loss": loss, "logits": logits}


@OBJECTIVES.register("cross_entropy")
def _cross_entropy(cfg, train_label_ids: Sequence[int], num_classes: int) -> CrossEntropy:
    weight = class_weight_tensor(cfg.class_weights, train_label_ids, num_classes)
    return CrossEntropy(cfg.label_smoothing, weight)
