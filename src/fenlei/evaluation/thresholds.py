"""Multi-label decisions: a label is predicted when its probability reaches its threshold;
thresholds are tuned on dev for F1 (one for all labels, or one per label)."""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.5
# Candidate thresholds for tuning: a fixed grid keeps the choice stable on a small dev set
# (the exact midpoints between dev scores would fit dev's noise).
GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def decide(probs: np.ndarray, thresholds: np.ndarray | float | None = None) -> np.ndarray:
    """Multi-hot decisions [N, C]: a label is predicted when its probability reaches its threshold."""
    thr = DEFAULT_THRESHOLD if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    return (np.asarray(probs, dtype=np.float64) >= thr).astype(np.int64)


def tune_thresholds(y_true: np.ndarray, probs: np.ndarray, policy: str = "global") -> np.ndarray:
    """Decision thresholds [C] that maximise F1 on (dev) ``y_true``/``probs``.

    ``global``: one threshold for every label, the grid value with the best micro-F1.
    ``per_label``: each label its own best F1; a label with no positive (or no negative) in
    dev cannot be tuned and keeps the global threshold. Ties go to the value nearest 0.5.
    """
    if policy not in ("global", "per_label"):
        raise ValueError(f"policy must be 'global' or 'per_label', not {policy!r}")
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    best_global = _best(lambda t: _f1(y_true.ravel(), probs.ravel() >= t))
    thresholds = np.full(y_true.shape[1], best_global)
    if policy == "per_label":
        for c in range(y_true.shape[1]):
            column = y_true[:, c]
            if column.min() == column.max():
                continue
            thresholds[c] = _best(lambda t, y=column, p=probs[:, c]: _f1(y, p >= t))
    return thresholds


def _best(objective) -> float:
    scores = np.array([objective(t) for t in GRID])
    top = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(GRID[top[np.argmin(np.abs(GRID[top] - DEFAULT_THRESHOLD))]])


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    """Binary F1 of flattened decisions (micro-F1 when y/pred are whole matrices ravelled)."""
    tp = float(np.sum(pred & (y == 1)))
    denom = float(np.sum(pred)) + float(np.sum(y == 1))
    return 2 * tp / denom if denom else 0.0
