"""Metrics agree with scikit-learn computed directly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from fenlei.evaluation.metrics import classification_metrics, is_better


def _random(n, k, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + np.eye(k)[y] * 1.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, probs


@pytest.mark.parametrize("k", [2, 4])
def test_against_sklearn(k):
    y, probs = _random(300, k, k)
    pred = probs.argmax(1)
    m = classification_metrics(y, probs, [f"c{i}" for i in range(k)])
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    for avg in ("macro", "micro", "weighted"):
        assert m[f"{avg}_f1"] == pytest.approx(skm.f1_score(y, pred, average=avg))
        assert m[f"{avg}_precision"] == pytest.approx(skm.precision_score(y, pred, average=avg))
        assert m[f"{avg}_recall"] == pytest.approx(skm.recall_score(y, pred, average=avg))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    expected_auc = (
        skm.roc_auc_score(y, probs[:, 1]) if k == 2 else skm.roc_auc_score(y, probs, multi_class="ovr")
    )
    assert m["roc_auc"] == pytest.approx(expected_auc)
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    f1s = skm.f1_score(y, pred, average=None)
    assert [m["per_class"][f"c{i}"]["f1"] for i in range(k)] == pytest.approx(list(f1s))
    assert sum(v["support"] for v in m["per_class"].values()) == 300


def test_single_class_does_not_crash():
    y = np.zeros(10, dtype=int)
    probs = np.tile([0.7, 0.3], (10, 1))
    m = classification_metrics(y, probs, ["a", "b"])
    assert m["roc_auc"] is None
    assert m["accuracy"] == 1.0


def test_is_better_directions():
    assert is_better("accuracy", 0.9, 0.8)
    assert not is_better("accuracy", 0.8, 0.8)
    assert not is_better("accuracy", 0.805, 0.8, min_delta=0.01)
    assert is_better("loss", 0.1, 0.2)
    assert not is_better("loss", 0.3, 0.2)
