"""Contrastive few-shot (SetFit, Tunstall et al. 2022): pairs of labelled texts shape the encoder.

Stage 1 fine-tunes the sentence vector so that texts of one label have cosine similarity 1
and texts of different labels 0 (SetFit's CosineSimilarityLoss), over every pair within the
batch; stage 2 (the last ``1 - pair_share`` of the steps) fits the head alone on the
finished vectors, as SetFit fits its logistic regression. The head also learns during stage
1, from detached vectors, so it never starts stage 2 from scratch. The pairs come from the
labelled texts only, so the objective works with ``data.labeled_per_class`` as UDA does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fenlei.errors import ConfigError
from fenlei.objectives import Context, ObjectiveParams, check_numbers, register_objective
from fenlei.objectives.supervised import CrossEntropy, supervised_loss


def pair_loss(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean squared error between each pair's cosine similarity and 1 (same label) or 0.

    Same-label and different-label pairs weigh half each, so many classes (few positive
    pairs in a batch) do not teach the encoder only to push texts apart.
    """
    unit = F.normalize(features.float(), dim=-1)
    sims = unit @ unit.T
    same = labels[:, None] == labels[None, :]
    upper = torch.ones_like(same).triu(1)  # each unordered pair once, no text with itself
    errors = (sims - same.float()).pow(2)
    parts = [errors[upper & kind].mean() for kind in (same, ~same) if (upper & kind).any()]
    return torch.stack(parts).mean() if parts else sims.sum() * 0.0


class Contrastive:
    """Stage 1: pair loss on the encoder + CE of the head on detached vectors; stage 2: the head alone."""

    def __init__(self, ce: CrossEntropy, pair_share: float, pair_weight: float) -> None:
        self.ce = ce
        self.pair_share = pair_share
        self.pair_weight = pair_weight

    def __call__(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        core = _core(model)
        if "windows" in batch:
            raise ConfigError("objective contrastive works on whole texts: remove data.window")
        features = core.features(batch)
        labels = batch["labels"]
        # The head reads the vectors without moving them: the pairs alone shape the encoder.
        logits = core.classify(features.detach())
        head = self.ce.loss(logits, labels)
        out = {"logits": logits, "head": head}
        if float(batch.get("progress", 0.0)) >= self.pair_share:
            out["loss"] = head  # stage 2: the encoder gets no gradient
            return out
        pairs = pair_loss(features, labels)
        out.update(loss=self.pair_weight * pairs + head, pairs=pairs)
        return out


def _core(model: torch.nn.Module) -> torch.nn.Module:
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        # features() bypasses DDP's forward, so gradients would silently not be averaged.
        raise ConfigError("objective contrastive runs on one process: drop train.distributed")
    if not callable(getattr(model, "features", None)):
        raise ConfigError(
            f"objective contrastive trains a sentence encoder; model {type(model).__name__} has none: "
            "use model.name: transformer with model.pooling: mean"
        )
    return model


@dataclass
class ContrastiveParams(ObjectiveParams):
    """Parameters of ``contrastive``.

    pair_share: share of the training steps in stage 1 (pairs train the encoder); the rest fit
        the head alone on the finished sentence vectors.
    pair_weight: weight of the pair loss against the head's cross-entropy in stage 1.
    """

    pair_share: float = 0.8
    pair_weight: float = 1.0

    def __post_init__(self) -> None:
        check_numbers(self, "pair_share", "pair_weight")
        if not 0.0 <= self.pair_share <= 1.0:
            raise ConfigError(f"objective.pair_share must be in [0, 1], got {self.pair_share}")
        if self.pair_weight < 0:
            raise ConfigError("objective.pair_weight must be >= 0 (0 = train the head only)")


@register_objective("contrastive", ContrastiveParams)
def _contrastive(cfg, params: ContrastiveParams, ctx: Context) -> Contrastive:
    """Contrastive few-shot (SetFit): same-label pairs close, others apart, then the head."""
    ce = supervised_loss(cfg, ctx.train_label_ids, ctx.num_classes)
    return Contrastive(ce, params.pair_share, params.pair_weight)
