"""Calibration of predicted confidences: reliability bins and expected calibration error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Reliability:
    """Per confidence bin: mean confidence, accuracy and count; plus the ECE over all bins."""

    edges: np.ndarray  # (bins + 1,)
    confidence: np.ndarray  # (bins,) nan where a bin is empty
    accuracy: np.ndarray  # (bins,) nan where a bin is empty
    count: np.ndarray  # (bins,)
    ece: float


def reliability(y_true: np.ndarray, probs: np.ndarray, bins: int = 10) -> Reliability:
    """Bin the top-class confidence into equal-width bins; ECE = sum_b n_b/N * |acc_b - conf_b|."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(1)
    correct = (probs.argmax(1) == np.asarray(y_true)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Right-closed bins so a confidence of exactly 1.0 lands in the last one.
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=conf, minlength=bins) / count
        mean_acc = np.bincount(which, weights=correct, minlength=bins) / count
    filled = count > 0
    ece = float(np.sum(count[filled] / max(len(conf), 1) * np.abs(mean_acc[filled] - mean_conf[filled])))
    return Reliability(edges, mean_conf, mean_acc, count, ece)
