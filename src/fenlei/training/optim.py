"""Optimiser with parameter groups, and warmup + decay learning-rate schedules."""

from __future__ import annotations

import math

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float, lr: float) -> list[dict]:
    """Decayed weights apart from biases/norms/embeddings, split further by the model's
    per-parameter learning-rate multiplier (``model.lr_scale(name)``, when it has one)."""
    skip = set()
    for module in model.modules():
        if isinstance(module, (nn.Embedding, nn.EmbeddingBag, nn.LayerNorm, nn.BatchNorm1d)) or (
            "norm" in type(module).__name__.lower()  # RMSNorm, T5LayerNorm and friends
        ):
            skip.update(id(p) for p in module.parameters(recurse=False))
    scale_of = getattr(model, "lr_scale", None)
    groups: dict[tuple[bool, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decays = not (id(p) in skip or name.endswith("bias") or p.dim() < 2)
        scale = float(scale_of(name)) if scale_of else 1.0
        groups.setdefault((decays, scale), []).append(p)
    return [
        {"params": params, "weight_decay": weight_decay if decays else 0.0, "lr": lr * scale}
        for (decays, scale), params in sorted(groups.items(), key=lambda kv: (not kv[0][0], -kv[0][1]))
    ]


def build_optimizer(model: nn.Module, cfg, lr: float) -> torch.optim.Optimizer:
    """The optimiser named by ``cfg.name`` (an OptimConfig) at peak rate ``lr``."""
    groups = param_groups(model, cfg.weight_decay, lr)
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, foreach=True)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=lr, eps=cfg.eps, fused=True)
    return torch.optim.AdamW(groups, lr=lr, eps=cfg.eps, fused=True)


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
