"""Contrastive few-shot (SetFit, Tunstall et al. 2022): pairs of labelled texts shape the encoder.

Stage 1 fine-tunes the sentence vector so that texts of one label have cosine similarity 1
and texts of different labels 0 (SetFit's CosineSimilarityLoss), over every pair within the
batch; stage 2 (the last ``1 - pair_share`` of the steps) fits the head alone on the
finished vectors, as SetFit fits its logistic regression: with ``head_fit: lbfgs`` (the
default) each stage-2 step refits the head to convergence (L-BFGS, L2 as scikit-learn's
``C``) on the vectors of every labelled text seen in stage 2, computed without dropout; with
``sgd`` the optimiser's steps fit it. The head also learns during stage 1, from detached
vectors, so it never starts stage 2 from scratch. The pairs come from the
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


def fit_linear_head(head: torch.nn.Linear, x: torch.Tensor, y: torch.Tensor, c: float) -> None:
    """Set ``head`` to the multinomial logistic regression of ``y`` on ``x``: scikit-learn's
    objective (C x summed cross-entropy + half the squared weights, bias unpenalised), L-BFGS."""
    x = x.float()
    weight = head.weight.detach().float().clone().requires_grad_(True)
    bias = head.bias.detach().float().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")
    scale = 1.0 / (c * len(y))  # the objective divided by C x n: the same optimum, tame gradients

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + 0.5 * scale * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        head.weight.copy_(weight.to(head.weight.dtype))
        head.bias.copy_(bias.to(head.bias.dtype))


class Contrastive:
    """Stage 1: pair loss on the encoder + CE of the head on detached vectors; stage 2: the head alone."""

    def __init__(
        self,
        ce: CrossEntropy,
        pair_share: float,
        pair_weight: float,
        head_fit: str = "sgd",
        head_c: float = 1.0,
    ) -> None:
        self.ce = ce
        self.pair_share = pair_share
        self.pair_weight = pair_weight
        self.head_fit = head_fit
        self.head_c = head_c
        self._seen: dict[bytes, tuple[torch.Tensor, int]] = {}  # stage 2: text -> (vector, label)

    def __call__(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        core = _core(model)
        if "windows" in batch:
            raise ConfigError("objective contrastive works on whole texts: remove data.window")
        labels = batch["labels"]
        stage_two = float(batch.get("progress", 0.0)) >= self.pair_share
        if stage_two and self.head_fit == "lbfgs":
            return self._refit(core, batch, labels)
        features = core.features(batch)
        # The head reads the vectors without moving them: the pairs alone shape the encoder.
        logits = core.classify(features.detach())
        head = self.ce.loss(logits, labels)
        out = {"logits": logits, "head": head}
        if stage_two:
            out["loss"] = head  # stage 2: the encoder gets no gradient
            return out
        pairs = pair_loss(features, labels)
        out.update(loss=self.pair_weight * pairs + head, pairs=pairs)
        return out

    def _refit(self, core: torch.nn.Module, batch: dict, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stage 2 with ``lbfgs``: remember this batch's vectors (no dropout), refit the head on all."""
        training = core.training
        core.eval()
        with torch.no_grad():
            features = core.features(batch).float()
        core.train(training)
        for key, vector, label in zip(_row_keys(batch), features, labels.tolist(), strict=True):
            self._seen[key] = (vector, label)
        x = torch.stack([v for v, _ in self._seen.values()])
        y = torch.tensor([lab for _, lab in self._seen.values()], device=x.device)
        fit_linear_head(core.head, x, y, self.head_c)
        # The loss's gradient is ~0 at the optimum: the optimiser's step leaves the fitted head be.
        logits = core.head(features.to(core.head.weight.dtype))
        head = self.ce.loss(logits, labels)
        return {"logits": logits, "head": head, "loss": head}


def _row_keys(batch: dict) -> list[bytes]:
    """One key per text of the batch: its token ids (the same text gives the same key)."""
    ids = batch.get("input_ids")
    if ids is None:
        return [bytes(f"row{i}-{id(batch)}", "ascii") for i in range(len(batch["labels"]))]
    lengths = batch["lengths"].tolist()
    return [row[:n].cpu().numpy().tobytes() for row, n in zip(ids, lengths, strict=True)]


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
    head_fit: how stage 2 fits the head: lbfgs (a converged logistic regression on the labelled
        texts' vectors, each step; SetFit's) or sgd (the optimiser's steps, as any head).
    head_c: inverse L2 strength of the lbfgs fit (scikit-learn's C).
    """

    pair_share: float = 0.8
    pair_weight: float = 1.0
    head_fit: str = "lbfgs"
    head_c: float = 1.0

    def __post_init__(self) -> None:
        check_numbers(self, "pair_share", "pair_weight", "head_c")
        if self.head_fit not in ("lbfgs", "sgd"):
            raise ConfigError(f"objective.head_fit must be lbfgs or sgd, got {self.head_fit!r}")
        if self.head_c <= 0:
            raise ConfigError("objective.head_c must be > 0 (smaller = a more regularised head)")
        if not 0.0 <= self.pair_share <= 1.0:
            raise ConfigError(f"objective.pair_share must be in [0, 1], got {self.pair_share}")
        if self.pair_weight < 0:
            raise ConfigError("objective.pair_weight must be >= 0 (0 = train the head only)")


@register_objective("contrastive", ContrastiveParams)
def _contrastive(cfg, params: ContrastiveParams, ctx: Context) -> Contrastive:
    """Contrastive few-shot (SetFit): same-label pairs close, others apart, then the head."""
    ce = supervised_loss(cfg, ctx.train_label_ids, ctx.num_classes)
    return Contrastive(ce, params.pair_share, params.pair_weight, params.head_fit, params.head_c)
