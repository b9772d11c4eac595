"""Outputs of a run, single- or multi-label: probabilities, decisions, metrics and thresholds.

This is the one place that knows how logits become probabilities (softmax for single-label,
sigmoid per label for multi-label) and how probabilities become decisions (argmax, or every
label at or above its threshold). The trainer, the pipeline, evaluate and the Predictor all
ask here, so a run is scored the same way wherever it is scored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from sklearn import metrics as skm

from fenlei.errors import RunDirError

THRESHOLDS_FILE = "thresholds.json"
DEFAULT_THRESHOLD = 0.5
# Candidate thresholds for tuning: a fixed grid keeps the choice stable on a small dev set
# (the exact midpoints between dev scores would fit dev's noise).
GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def probabilities(logits: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """Softmax over classes (single-label) or an independent sigmoid per label (multi-label), in fp32."""
    logits = logits.float()
    return torch.sigmoid(logits) if multi_label else torch.softmax(logits, -1)


def decide(probs: np.ndarray, thresholds: np.ndarray | float | None = None) -> np.ndarray:
    """Multi-hot decisions [N, C]: a label is predicted when its probability reaches its threshold."""
    thr = DEFAULT_THRESHOLD if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    return (np.asarray(probs, dtype=np.float64) >= thr).astype(np.int64)


def score(
    y_true: np.ndarray,
    probs: np.ndarray,
    label_names: Sequence[str],
    multi_label: bool,
    thresholds: np.ndarray | None = None,
) -> dict:
    """Metrics of a run's outputs: classification_metrics, or multilabel_metrics for multi-hot labels."""
    if multi_label:
        return multilabel_metrics(y_true, probs, label_names, thresholds)
    from fenlei.evaluation.metrics import classification_metrics

    return classification_metrics(y_true, probs, label_names)


def multilabel_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    label_names: Sequence[str],
    thresholds: np.ndarray | float | None = None,
) -> dict:
    """Micro/macro/weighted/samples P/R/F1, subset accuracy, Hamming loss and per-label ROC-AUC.

    ``accuracy`` is the subset accuracy (every label of a text right), as scikit-learn defines
    it for multi-label data. ``roc_auc`` is the mean of the per-label AUCs; a label with one
    class only in ``y_true`` has no AUC (None) and is left out of the mean.
    """
    y_true = np.asarray(y_true, dtype=np.int64).reshape(len(probs), len(label_names))
    probs = np.asarray(probs, dtype=np.float64)
    thr = np.broadcast_to(
        np.asarray(DEFAULT_THRESHOLD if thresholds is None else thresholds, dtype=np.float64),
        (len(label_names),),
    )
    y_pred = decide(probs, thr)
    subset = float(skm.accuracy_score(y_true, y_pred))
    out: dict = {"n": int(len(y_true)), "accuracy": subset, "subset_accuracy": subset}
    out["hamming_loss"] = float(skm.hamming_loss(y_true, y_pred))
    for avg in ("micro", "macro", "weighted", "samples"):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=avg, zero_division=0)
        out[f"{avg}_precision"], out[f"{avg}_recall"], out[f"{avg}_f1"] = float(p), float(r), float(f)
    aucs = per_label_roc_auc(y_true, probs)
    defined = [a for a in aucs if a is not None]
    out["roc_auc"] = float(np.mean(defined)) if defined else None
    out["per_label_roc_auc"] = dict(zip(label_names, aucs, strict=True))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    out["per_class"] = {
        name: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
            "threshold": float(thr[i]),
        }
        for i, name in enumerate(label_names)
    }
    return out


def per_label_roc_auc(y_true: np.ndarray, probs: np.ndarray) -> list[float | None]:
    """ROC-AUC of each label's scores; None for a label whose gold column holds one class only."""
    out: list[float | None] = []
    for c in range(y_true.shape[1]):
        column = y_true[:, c]
        if column.min() == column.max():
            out.append(None)
            continue
        out.append(float(skm.roc_auc_score(column, probs[:, c])))
    return out


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


def save_thresholds(
    path: str | Path, label_names: Sequence[str], thresholds: np.ndarray, policy: str
) -> None:
    """Write ``thresholds.json``: the policy and one threshold per label, by name."""
    from fenlei import state_io

    data = {
        "policy": policy,
        "thresholds": {n: float(t) for n, t in zip(label_names, thresholds, strict=True)},
    }
    state_io.write_json(Path(path), data)


def load_thresholds(path: str | Path, label_names: Sequence[str]) -> np.ndarray:
    """Thresholds [C] in label order from ``thresholds.json``; a missing file means 0.5 for all."""
    path = Path(path)
    if not path.is_file():
        return np.full(len(label_names), DEFAULT_THRESHOLD)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["thresholds"]
        values = np.array([float(data[name]) for name in label_names])
    except (ValueError, KeyError, TypeError) as err:
        raise RunDirError(f"{path}: corrupt ({err}); delete it to use 0.5, or train the run again") from None
    return values
