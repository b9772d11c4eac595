"""Metrics from labels and probabilities, computed with scikit-learn: single-label
(``classification_metrics``) and multi-label (``multilabel_metrics``)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from fenlei.evaluation.thresholds import DEFAULT_THRESHOLD, decide

LOWER_IS_BETTER = frozenset({"loss", "hamming_loss"})
# Above this many classes metrics.json leaves the confusion matrix out: it grows with the
# square (10,000 classes: 10^8 cells) and nobody reads one that size.
MAX_CONFUSION_CLASSES = 1000


def is_better(metric: str, new: float, old: float, min_delta: float = 0.0) -> bool:
    """True when ``new`` beats ``old`` by more than ``min_delta`` (loss: lower is better)."""
    if metric in LOWER_IS_BETTER:
        return new < old - min_delta
    return new > old + min_delta


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, label_names: Sequence[str]) -> dict:
    """Accuracy, P/R/F1 (macro/micro/weighted/per class), MCC, ROC-AUC and the confusion matrix
    (up to MAX_CONFUSION_CLASSES classes)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    y_pred = probs.argmax(1)
    labels = list(range(len(label_names)))
    out: dict = {"n": int(len(y_true)), "accuracy": float(_skm().accuracy_score(y_true, y_pred))}
    for avg in ("macro", "micro", "weighted"):
        p, r, f, _ = _skm().precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=avg, zero_division=0
        )
        out[f"{avg}_precision"], out[f"{avg}_recall"], out[f"{avg}_f1"] = float(p), float(r), float(f)
    with warnings.catch_warnings():  # one class present: MCC is defined as 0, no need to warn
        warnings.simplefilter("ignore")
        out["mcc"] = float(_skm().matthews_corrcoef(y_true, y_pred))
    out["roc_auc"] = roc_auc(y_true, probs)
    p, r, f, s = _skm().precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out["per_class"] = {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(label_names)
    }
    if len(labels) <= MAX_CONFUSION_CLASSES:
        out["confusion_matrix"] = _skm().confusion_matrix(y_true, y_pred, labels=labels).tolist()
    return out


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float | None:
    """Binary: AUC of class 1; multi-class: one-vs-rest macro AUC over classes present. None if undefined."""
    present = np.unique(y_true)
    if len(present) < 2:
        return None
    if probs.shape[1] == 2:
        return float(_skm().roc_auc_score(y_true, probs[:, 1]))
    # One-vs-rest per class present in y_true; a class never seen has no AUC.
    scores = [_skm().roc_auc_score(y_true == c, probs[:, c]) for c in present]
    return float(np.mean(scores))


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
    subset = float(_skm().accuracy_score(y_true, y_pred))
    out: dict = {"n": int(len(y_true)), "accuracy": subset, "subset_accuracy": subset}
    out["hamming_loss"] = float(_skm().hamming_loss(y_true, y_pred))
    for avg in ("micro", "macro", "weighted", "samples"):
        p, r, f, _ = _skm().precision_recall_fscore_support(y_true, y_pred, average=avg, zero_division=0)
        out[f"{avg}_precision"], out[f"{avg}_recall"], out[f"{avg}_f1"] = float(p), float(r), float(f)
    aucs = per_label_roc_auc(y_true, probs)
    defined = [a for a in aucs if a is not None]
    out["roc_auc"] = float(np.mean(defined)) if defined else None
    out["per_label_roc_auc"] = dict(zip(label_names, aucs, strict=True))
    p, r, f, s = _skm().precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
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
        out.append(float(_skm().roc_auc_score(column, probs[:, c])))
    return out


def _skm():
    """scikit-learn's metrics, imported on first use: a one-text ``fenlei predict`` of a neural
    run imports this module (the families' registry) and never scores anything."""
    from sklearn import metrics

    return metrics
