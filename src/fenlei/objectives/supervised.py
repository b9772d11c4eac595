"""Supervised losses: cross-entropy (label smoothing, class weights) and focal loss."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from fenlei.errors import ConfigError
from fenlei.objectives import Context, ObjectiveParams, register_objective


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
    """Softmax cross-entropy; label smoothing, class weights and a focal factor are switches.

    ``per_example`` gives each example's loss (weights applied) so R-Drop and UDA can mask or
    average them; ``reduce`` turns those into the batch loss exactly as ``F.cross_entropy``
    would (weighted mean over the examples' class weights).
    """

    def __init__(
        self, label_smoothing: float = 0.0, weight: torch.Tensor | None = None, gamma: float = 0.0
    ) -> None:
        self.label_smoothing = label_smoothing
        self.weight = weight
        self.gamma = gamma

    def per_example(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Loss of every example [B] (class weight included, not yet averaged)."""
        logits = logits.float()
        weight = None if self.weight is None else self.weight.to(logits.device)
        loss = F.cross_entropy(
            logits, labels, weight=weight, label_smoothing=self.label_smoothing, reduction="none"
        )
        if self.gamma:
            # Focal loss (Lin et al. 2017): easy examples (p_true near 1) count for little.
            p_true = torch.softmax(logits, -1).gather(1, labels[:, None]).squeeze(1)
            loss = loss * (1.0 - p_true).clamp(min=0.0).pow(self.gamma)
        return loss

    def reduce(
        self, losses: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Weighted mean of ``losses`` over the examples kept by ``mask`` (0 when none is kept)."""
        denom = torch.ones_like(losses) if self.weight is None else self.weight.to(losses.device)[labels]
        if mask is not None:
            denom = denom * mask
            losses = losses * mask
        return losses.sum() / denom.sum().clamp(min=1e-12)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The batch loss."""
        return self.reduce(self.per_example(logits, labels), labels)

    def __call__(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        logits = model(batch)
        return {"loss": self.loss(logits, batch["labels"]), "logits": logits}


def supervised_loss(
    cfg, train_label_ids: Sequence[int], num_classes: int, gamma: float = 0.0
) -> CrossEntropy:
    """The cross-entropy an ObjectiveConfig describes (smoothing, class weights); R-Drop and UDA reuse it."""
    weight = class_weight_tensor(cfg.class_weights, train_label_ids, num_classes)
    return CrossEntropy(cfg.label_smoothing, weight, gamma)


@register_objective("cross_entropy")
def _cross_entropy(cfg, params: ObjectiveParams, ctx: Context) -> CrossEntropy:
    """Softmax cross-entropy (label smoothing and class weights as switches)."""
    return supervised_loss(cfg, ctx.train_label_ids, ctx.num_classes)


@dataclass
class FocalParams(ObjectiveParams):
    """Parameters of ``focal``.

    focal_gamma: down-weights easy examples by (1 - p_true)^gamma; 0 = plain cross-entropy.
    """

    focal_gamma: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.focal_gamma, bool) or not isinstance(self.focal_gamma, (int, float)):
            raise ConfigError(f"objective.focal_gamma must be a number, got {self.focal_gamma!r}")
        if self.focal_gamma < 0:
            raise ConfigError("objective.focal_gamma must be >= 0 (0 = plain cross-entropy)")


@register_objective("focal", FocalParams)
def _focal(cfg, params: FocalParams, ctx: Context) -> CrossEntropy:
    """Focal loss (Lin et al. 2017): cross-entropy that down-weights easy examples."""
    return supervised_loss(cfg, ctx.train_label_ids, ctx.num_classes, gamma=params.focal_gamma)
