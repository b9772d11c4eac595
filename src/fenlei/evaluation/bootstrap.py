"""Is a winner really ahead? A paired bootstrap over the same texts (Efron & Tibshirani; the
test NLP papers use, Berg-Kirkpatrick et al. 2012): resample the texts with replacement, score
both runs on each resample, and count how often the first is ahead.

Scores come from 0/1 decision matrices, so each resample is a weighted sum, not a refit:
accuracy, micro-F1 and macro-F1 (the headline metrics) for both tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fenlei.errors import FenleiError
from fenlei.rundir import RunDir

RESAMPLES = 1000
CHUNK = 100  # resamples scored at once: a [CHUNK, N] weight matrix
SUPPORTED = ("accuracy", "micro_f1", "macro_f1")
CLEAR = 0.95  # ahead in fewer than 95% of the resamples (and behind in fewer): a tie


@dataclass
class Decisions:
    """A run's gold and decided labels as 0/1 matrices [N, C], with its texts for pairing."""

    texts: list[str]
    gold: np.ndarray
    pred: np.ndarray


def run_decisions(run_dir: str | Path) -> Decisions | None:
    """The decisions of predictions.tsv (test, else dev) at the run's own decision rule."""
    rd = RunDir(run_dir)
    record = rd.record()
    p = record.predictions
    if p is None:
        return None
    rd.read_decision(record.task, record.labels)
    n, c = p.probs.shape
    chosen = record.task.predict_labels(p.probs, np.arange(c))
    pred = np.zeros((n, c), dtype=np.int8)
    for i, labels in enumerate(chosen):
        pred[i, labels] = 1
    gold = record.task.indicator(np.asarray(p.y_true), c).astype(np.int8)
    return Decisions(p.texts, gold, pred)


def scores(d: Decisions, weights: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` of ``d`` under each row of ``weights`` [R, N] (counts of each text in a resample)."""
    hit = d.gold * d.pred  # [N, C]
    if metric == "accuracy":
        exact = (d.gold == d.pred).all(axis=1).astype(np.float64)
        return weights @ exact / weights.sum(axis=1)
    tp, fp, fn = weights @ hit, weights @ (d.pred - hit), weights @ (d.gold - hit)  # [R, C] each
    if metric == "micro_f1":
        t = tp.sum(axis=1)
        return 2 * t / np.maximum(2 * t + fp.sum(axis=1) + fn.sum(axis=1), 1e-12)
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1e-12)
    # averaged over the labels in the resample's gold or decisions, as scikit-learn's macro-F1 is
    seen = (tp + fp + fn) > 0
    return np.where(seen, f1, 0.0).sum(axis=1) / np.maximum(seen.sum(axis=1), 1)


def paired_bootstrap(
    a: Decisions, b: Decisions, metric: str, resamples: int = RESAMPLES, seed: int = 0
) -> dict:
    """How often ``a`` beats ``b`` on resamples of their shared texts: ``{"ahead": share of
    resamples with a > b, "behind": ... a < b, "interval": 95% interval of a - b, "n": texts}``."""
    if metric not in SUPPORTED:
        metric = "accuracy"  # the paired test is on decisions; losses and ROC-AUC fall back to it
    if a.texts != b.texts:
        raise FenleiError("the two runs were evaluated on different texts; compare runs of the same test set")
    rng = np.random.default_rng(seed)
    n = len(a.texts)
    diffs = []
    for start in range(0, resamples, CHUNK):
        r = min(CHUNK, resamples - start)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=r).astype(np.float64)
        diffs.append(scores(a, weights, metric) - scores(b, weights, metric))
    d = np.concatenate(diffs)
    low, high = np.percentile(d, [2.5, 97.5])
    return {
        "metric": metric,
        "ahead": float((d > 0).mean()),
        "behind": float((d < 0).mean()),
        "interval": [float(low), float(high)],
        "n": n,
    }


def verdict(result: dict) -> str:
    """Words for a paired bootstrap: a win (or loss) only when it holds in 95% of the resamples."""
    if result["ahead"] >= CLEAR:
        return "ahead"
    if result["behind"] >= CLEAR:
        return "behind"
    return "tie"
