"""Objectives: ``objective(model, batch) -> {"loss", "logits", parts...}`` (DESIGN.md §3).

The loop calls whatever objective the config names; new losses register here and the
trainer never changes for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from fenlei.errors import ConfigError
from fenlei.registry import Registry


class Objective(Protocol):
    """Anything that maps (model, batch) to a dict holding at least ``loss`` and ``logits``."""

    def __call__(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]: ...


OBJECTIVES: Registry = Registry("objective", ConfigError)


def build_objective(cfg, train_label_ids: Sequence[int], num_classes: int, **context) -> Objective:
    """Create the objective named by ``cfg.name`` (an ObjectiveConfig) for this training set.

    ``context`` carries what else an objective may need (``uda=`` the UDAConfig, ``teacher=`` the
    teacher's probabilities of the training texts for distill).
    """
    from fenlei.objectives import bce, distill, rdrop, supervised, uda  # noqa: F401  (register the built-ins)
    from fenlei.objectives.adversarial import Adversarial

    factory = OBJECTIVES.get(cfg.name)
    objective = factory(cfg, train_label_ids, num_classes, **context)
    return Adversarial(objective, cfg.adversarial) if cfg.adversarial else objective
