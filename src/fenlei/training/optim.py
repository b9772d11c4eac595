"""Optimiser with parameter groups, and warmup + decay learning-rate schedules.

A table built with sparse gradients (``nn.Embedding``/``nn.EmbeddingBag(sparse=True)``, as the
fastText family's n-gram bag is) is updated only in the rows a batch touched: plain SGD for it
under ``sgd`` (momentum would need a dense buffer), lazy Adam (``SparseAdam``) under adam/adamw.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sparse_params(model: nn.Module) -> set[int]:
    """ids of the parameters whose gradients are sparse (embedding tables built with sparse=True)."""
    return {
        id(p)
        for m in model.modules()
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.sparse
        for p in m.parameters(recurse=False)
    }


def param_groups(model: nn.Module, weight_decay: float, lr: float) -> list[dict]:
    """Decayed weights apart from biases/norms/embeddings, split further by the model's
    per-parameter learning-rate multiplier (``model.lr_scale(name)``, when it has one) and by
    whether the gradient is sparse (group key ``sparse``)."""
    sparse = sparse_params(model)
    skip = set(sparse)
    for module in model.modules():
        if isinstance(module, (nn.Embedding, nn.EmbeddingBag, nn.LayerNorm, nn.BatchNorm1d)) or (
            "norm" in type(module).__name__.lower()  # RMSNorm, T5LayerNorm and friends
        ):
            skip.update(id(p) for p in module.parameters(recurse=False))
    scale_of = getattr(model, "lr_scale", None)
    groups: dict[tuple[bool, float, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decays = not (id(p) in skip or name.endswith("bias") or p.dim() < 2)
        scale = float(scale_of(name)) if scale_of else 1.0
        groups.setdefault((decays, scale, id(p) in sparse), []).append(p)
    order = sorted(groups.items(), key=lambda kv: (kv[0][2], not kv[0][0], -kv[0][1]))
    return [
        {"params": params, "weight_decay": weight_decay if decays else 0.0, "lr": lr * scale, "sparse": sp}
        for (decays, scale, sp), params in order
    ]


def build_optimizer(model: nn.Module, cfg, lr: float) -> torch.optim.Optimizer:
    """The optimiser named by ``cfg.name`` (an OptimConfig) at peak rate ``lr``."""
    groups = param_groups(model, cfg.weight_decay, lr)
    dense = [g for g in groups if not g["sparse"]]
    sparse = [g for g in groups if g["sparse"]]
    if cfg.name == "sgd":
        for g in sparse:
            g["momentum"] = 0.0
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, foreach=not sparse)
    adam = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
    main = adam(dense, lr=lr, eps=cfg.eps, fused=True) if dense else None
    if not sparse:
        return main
    for g in sparse:
        del g["weight_decay"]  # SparseAdam has none; the tables are never decayed anyway
    lazy = torch.optim.SparseAdam(sparse, lr=lr, eps=cfg.eps)
    return lazy if main is None else SplitOptimizer([main, lazy])


class SplitOptimizer(torch.optim.Optimizer):
    """Several optimisers stepped as one: schedulers, the grad scaler and checkpoints see one
    object whose ``param_groups`` are the parts' own (so a rate change reaches them)."""

    def __init__(self, parts: list[torch.optim.Optimizer]) -> None:
        super().__init__([p for part in parts for g in part.param_groups for p in g["params"]], {})
        self.parts = parts  # from here on param_groups reads the parts' own groups

    @property
    def param_groups(self) -> list[dict]:
        # read through each time: a part's load_state_dict replaces its group dicts
        if "parts" not in self.__dict__:
            return self._staging  # Optimizer.__init__ is still filling its own list
        return [g for part in self.parts for g in part.param_groups]

    @param_groups.setter
    def param_groups(self, groups: list[dict]) -> None:
        self._staging = groups

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch's signature
        for part in self.parts:
            part.step()

    def zero_grad(self, set_to_none: bool = True) -> None:  # noqa: D102
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:  # noqa: D102
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: dict) -> None:  # noqa: D102
        for part, own in zip(self.parts, state_dict["parts"], strict=True):
            part.load_state_dict(own)


def warmup_steps(warmup: float, total_steps: int) -> int:
    """Warmup as a step count: a ratio of ``total_steps`` when below 1, else steps."""
    return int(warmup * total_steps) if warmup < 1 else int(warmup)


def lr_factor(step: int, schedule: str, warmup: int, total: int) -> float:
    """Multiplier of the peak rate at ``step``: linear warmup, then constant, linear or cosine decay."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg, total_steps: int):
    """A LambdaLR following ``lr_factor``; stepped once per optimiser step."""
    warm = warmup_steps(cfg.warmup, total_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, cfg.schedule, warm, total_steps)
    )
