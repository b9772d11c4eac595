"""Adversarial training on the embeddings (FGM; Goodfellow et al. 2015, Miyato et al. 2017).

Wraps any objective: after the clean pass, each example's embedded input is pushed by
``epsilon`` (L2 norm, per example and per embedding layer) in the direction that raises the
loss most, the objective runs again on the pushed inputs, and the two losses are added.
Words are discrete, so the perturbation lives on the embedding outputs, never on token ids.
"""

from __future__ import annotations

import torch
from torch import nn

from fenlei.models.base import TextModel, embedding_modules


def embedding_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose outputs are perturbed: a fenlei model's ``input_embeddings()``, else
    every embedding layer of the module."""
    inner = getattr(model, "module", model)  # unwrap DistributedDataParallel
    return inner.input_embeddings() if isinstance(inner, TextModel) else embedding_modules(inner)


def fgm_delta(grad: torch.Tensor, epsilon: float) -> torch.Tensor:
    """``epsilon`` x grad / ||grad||, the norm taken per example (dim 0 indexes the examples)."""
    norm = grad.float().flatten(1).norm(dim=1).clamp(min=1e-12)
    return (epsilon * grad.float() / norm.view(-1, *[1] * (grad.dim() - 1))).to(grad.dtype)


class Adversarial:
    """``base`` loss on the inputs plus ``base`` loss on adversarially perturbed embeddings."""

    def __init__(self, base, epsilon: float) -> None:
        self.base = base
        self.epsilon = epsilon

    def __call__(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        layers = embedding_layers(model)
        captured: list[torch.Tensor | None] = []

        def capture(_module, _args, output):
            if not torch.is_grad_enabled():  # e.g. UDA's target pass: nothing to perturb there
                captured.append(None)
                return None
            if not output.requires_grad:  # a frozen table: differentiate w.r.t. its output anyway
                output = output.detach().requires_grad_()
            captured.append(output)
            return output

        with _hooks(layers, capture):
            out = self.base(model, batch)
        inputs = [c for c in captured if c is not None]
        if not inputs or not out["loss"].requires_grad:
            return out
        grads = torch.autograd.grad(out["loss"], inputs, retain_graph=True, allow_unused=True)
        found = iter(grads)
        deltas = [None if c is None else next(found) for c in captured]
        deltas = [None if g is None else fgm_delta(g.detach(), self.epsilon) for g in deltas]
        pending = iter(deltas)

        def perturb(_module, _args, output):
            # The second pass calls the layers in the same order as the first; a call the first
            # pass did not differentiate (or one shaped differently) goes through unchanged.
            delta = next(pending, None)
            return None if delta is None or delta.shape != output.shape else output + delta

        with _hooks(layers, perturb):
            adv = self.base(model, batch)
        return out | {"loss": out["loss"] + adv["loss"], "adv": adv["loss"].detach()}


class _hooks:
    """Forward hooks on ``layers`` for the length of a ``with`` block."""

    def __init__(self, layers: list[nn.Module], hook) -> None:
        self.layers, self.hook, self.handles = layers, hook, []

    def __enter__(self) -> None:
        self.handles = [layer.register_forward_hook(self.hook) for layer in self.layers]

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()
