"""One prediction per document from the logits of its windows (``model.window_pooling``).

Rows of a batch are windows in document order; ``windows`` [B] counts each document's rows.
Pooling is written with a [B, R] membership mask and matrix products (no scatter ops), so
the same code exports to ONNX with dynamic batch and window counts. Every pooling is a
function of the set of a document's windows: the order of windows does not change it.
"""

from __future__ import annotations

import torch

POOLINGS = ("mean", "max", "attention")


def membership(windows: torch.Tensor, rows: int) -> torch.Tensor:
    """[B, R] bool: row r is a window of document b."""
    end = windows.cumsum(0)
    start = end - windows
    r = torch.arange(rows, device=windows.device)
    return (r.unsqueeze(0) >= start.unsqueeze(1)) & (r.unsqueeze(0) < end.unsqueeze(1))


def pool_windows(
    logits: torch.Tensor, windows: torch.Tensor, how: str, scores: torch.Tensor | None = None
) -> torch.Tensor:
    """[R, C] window logits -> [B, C] document logits: their mean, their per-class maximum, or
    their average weighted by softmax(``scores`` [R]) over each document's windows."""
    member = membership(windows.to(logits.device), logits.shape[0])
    if how == "max":
        masked = logits.unsqueeze(0).masked_fill(~member.unsqueeze(-1), float("-inf"))
        return masked.amax(1)
    if how == "attention":
        if scores is None:
            raise ValueError("attention pooling needs a score per window")
        s = scores.float().unsqueeze(0).masked_fill(~member, float("-inf"))
        weights = torch.softmax(s, dim=1)
    else:
        weights = member.float() / member.sum(1, keepdim=True).clamp(min=1)
    return weights.to(logits.dtype) @ logits
