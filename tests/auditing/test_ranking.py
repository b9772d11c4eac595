"""Confident learning on hand-made probability matrices."""

from __future__ import annotations

import numpy as np
import pytest

from fenlei.auditing.ranking import (
    SCORES,
    calibrated_joint,
    class_thresholds,
    confident_labels,
    normalized_margin,
    rank,
    self_confidence,
)
from fenlei.errors import FenleiError

# six texts, two classes: rows 2 and 5 look like the other class
PROBS = np.array(
    [
        [0.9, 0.1],
        [0.8, 0.2],
        [0.1, 0.9],  # given 0, clearly 1
        [0.2, 0.8],
        [0.3, 0.7],
        [0.95, 0.05],  # given 1, clearly 0
    ]
)
GIVEN = np.array([0, 0, 0, 1, 1, 1])


def test_scores():
    assert self_confidence(PROBS, GIVEN) == pytest.approx([0.9, 0.8, 0.1, 0.8, 0.7, 0.05])
    # (p_given - best other + 1) / 2
    assert normalized_margin(PROBS, GIVEN) == pytest.approx([0.9, 0.8, 0.1, 0.8, 0.7, 0.05])
    three = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    assert normalized_margin(three, np.array([0, 0])) == pytest.approx([0.6, 0.35])
    assert set(SCORES.names()) == {"self_confidence", "normalized_margin"}


def test_thresholds_are_mean_self_confidence():
    t = class_thresholds(PROBS, GIVEN)
    assert t == pytest.approx([(0.9 + 0.8 + 0.1) / 3, (0.8 + 0.7 + 0.05) / 3])
    # a class nobody is labelled with can never be confident
    t3 = class_thresholds(np.array([[0.5, 0.3, 0.2]]), np.array([0]))
    assert t3[0] == pytest.approx(0.5) and np.isinf(t3[1:]).all()


def test_confident_label_is_the_likeliest_above_its_threshold():
    probs = np.array([[0.5, 0.45, 0.05], [0.2, 0.2, 0.6], [0.34, 0.33, 0.33]])
    labels = confident_labels(probs, np.array([0.6, 0.4, 0.5]))
    # row 0: only class 1 reaches its threshold; row 1: class 2; row 2: none
    assert labels.tolist() == [1, 2, -1]


def test_rank_flags_the_off_diagonal_and_orders_by_score():
    r = rank(PROBS, GIVEN)
    assert r.flagged.tolist() == [False, False, True, False, False, True]
    assert r.suspects.tolist() == [5, 2]  # lowest self-confidence first
    assert r.order[:2].tolist() == [5, 2] and sorted(r.order.tolist()) == list(range(6))
    assert r.joint.tolist() == [[2, 1], [1, 2]]
    assert r.predicted.tolist() == [0, 0, 1, 1, 1, 0]
    # calibrated: each row rescaled to its class size (3), so the trace is 4/6
    assert r.calibrated.sum() == pytest.approx(1.0)
    assert r.noise_rate == pytest.approx(1 / 3)
    assert r.class_noise() == pytest.approx([1 / 3, 1 / 3])


def test_clean_labels_flag_nothing():
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6]])
    r = rank(probs, np.array([0, 0, 1, 1]), "normalized_margin")
    assert not r.flagged.any() and r.noise_rate == pytest.approx(0.0)
    assert len(r.suspects) == 0


def test_calibrated_joint_keeps_a_class_without_confident_texts_on_the_diagonal():
    q = calibrated_joint(np.array([[0, 0], [1, 3]]), np.array([2.0, 4.0]))
    assert q == pytest.approx(np.array([[2.0, 0.0], [1.0, 3.0]]) / 6)


def test_rank_checks_shapes():
    with pytest.raises(ValueError, match="shape"):
        rank(PROBS[:3], GIVEN)


def test_flag_by_noise_rate_takes_as_many_as_the_joint_estimates():
    # class 0: rows 0-1 surely 1, rows 2-3 lean to 1, rows 4-6 surely 0, rows 7-9 unsure
    probs = [[0.05, 0.95], [0.04, 0.96], [0.3, 0.7], [0.4, 0.6]] + [[0.9, 0.1]] * 3 + [[0.45, 0.55]] * 3
    probs = np.array(probs + [[0.1, 0.9]] * 5 + [[0.2, 0.8]] * 5)
    given = np.array([0] * 10 + [1] * 10)
    joint_rule = rank(probs, given)
    assert np.flatnonzero(joint_rule.flagged).tolist() == [0, 1]
    assert joint_rule.joint.tolist() == [[3, 2], [0, 5]]  # rows at 0.8 miss the 0.85 threshold
    by_rate = rank(probs, given, flag_by="noise_rate")
    assert round(20 * by_rate.calibrated[0, 1]) == 4  # 2 of 5 confident texts, of 10
    assert np.flatnonzero(by_rate.flagged).tolist() == [0, 1, 2, 3]  # the largest margins
    with pytest.raises(FenleiError, match="unknown audit flagging rule"):
        rank(probs, given, flag_by="nope")
