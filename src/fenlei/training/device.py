"""Where and in what precision the loop runs: device choice, autocast dtype, moving batches."""

from __future__ import annotations

import torch

from fenlei.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' means the first GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_precision(
    name: str, device: torch.device, model: torch.nn.Module | None = None
) -> torch.dtype | None:
    """The autocast dtype for ``train.precision`` on ``device``; None = plain fp32.

    ``auto`` on a CPU means bf16 only for models that ask for it (transformers) and only where
    the CPU computes bf16 natively; elsewhere bf16 would be emulated and slower.
    """
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if getattr(model, "cpu_bf16", False) and _cpu_has_bf16():
            return torch.bfloat16
        return None
    if name == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision: fp16 needs a GPU; on CPU use bf16 or fp32")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def _cpu_has_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def to_device(batch: dict, device: torch.device) -> dict:
    """Move the tensors of a batch (and of its sub-batches) to ``device``; lengths stay on the CPU."""
    if device.type == "cpu":
        return batch
    out = {}
    for k, v in batch.items():
        if isinstance(v, dict):
            v = to_device(v, device)
        elif isinstance(v, torch.Tensor) and k != "lengths":
            v = v.to(device, non_blocking=True)
        out[k] = v
    return out
