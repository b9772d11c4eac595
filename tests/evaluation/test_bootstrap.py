"""The paired bootstrap: its scores are the metrics, and its verdicts are the obvious ones."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from fenlei.errors import FenleiError
from fenlei.evaluation.bootstrap import Decisions, paired_bootstrap, scores, verdict


def single(gold: np.ndarray, pred: np.ndarray, c: int = 3) -> Decisions:
    eye = np.eye(c, dtype=np.int8)
    return Decisions([str(i) for i in range(len(gold))], eye[gold], eye[pred])


def test_scores_at_unit_weights_are_scikit_learns():
    rng = np.random.default_rng(0)
    gold, pred = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    d = single(gold, pred)
    w = np.ones((1, 200))
    assert scores(d, w, "accuracy")[0] == pytest.approx(accuracy_score(gold, pred))
    assert scores(d, w, "macro_f1")[0] == pytest.approx(f1_score(gold, pred, average="macro"))
    assert scores(d, w, "micro_f1")[0] == pytest.approx(f1_score(gold, pred, average="micro"))
    multi_gold, multi_pred = rng.integers(0, 2, (200, 4)), rng.integers(0, 2, (200, 4))
    m = Decisions(d.texts, multi_gold.astype(np.int8), multi_pred.astype(np.int8))
    assert scores(m, w, "micro_f1")[0] == pytest.approx(f1_score(multi_gold, multi_pred, average="micro"))
    assert scores(m, w, "macro_f1")[0] == pytest.approx(f1_score(multi_gold, multi_pred, average="macro"))


def test_clear_winner_tie_and_different_texts():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 3, 500)
    good = np.where(rng.random(500) < 0.9, gold, (gold + 1) % 3)
    poor = np.where(rng.random(500) < 0.6, gold, (gold + 1) % 3)
    result = paired_bootstrap(single(gold, good), single(gold, poor), "accuracy")
    assert result["ahead"] > 0.99 and verdict(result) == "ahead"
    assert verdict(paired_bootstrap(single(gold, poor), single(gold, good), "macro_f1")) == "behind"
    one_more = good.copy()
    one_more[np.flatnonzero(one_more != gold)[0]] = gold[np.flatnonzero(one_more != gold)[0]]
    assert verdict(paired_bootstrap(single(gold, one_more), single(gold, good), "accuracy")) == "tie"
    other = Decisions(["x"] * 500, single(gold, good).gold, single(gold, good).pred)
    with pytest.raises(FenleiError, match="different texts"):
        paired_bootstrap(single(gold, good), other, "accuracy")
