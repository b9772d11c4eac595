"""Confident learning on out-of-fold probabilities (Northcutt, Jiang & Chuang 2021), on numpy.

Pure functions of ``probs`` [N, C] (each text's probabilities from a model that never saw it)
and ``given`` [N] (the label ids the file gives). A text is *confidently* of class j when its
probability of j reaches j's threshold, the mean probability of j over the texts labelled j
(the class's mean self-confidence); among several such classes the likeliest counts. The
confident joint counts (given label, confident label) pairs; its off-diagonal texts are the ones
flagged as label errors. Calibrated to the class sizes and normalised, the joint estimates the
joint distribution of given and true labels, and one minus its trace the share of wrong labels.
Suspects are ranked by a label-quality score in [0, 1], lowest (most suspect) first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fenlei.errors import ConfigError
from fenlei.registry import Registry

Score = Callable[[np.ndarray, np.ndarray], np.ndarray]
SCORES: Registry[Score] = Registry("audit ranking score", ConfigError)


@SCORES.register("self_confidence")
def self_confidence(probs: np.ndarray, given: np.ndarray) -> np.ndarray:
    """The probability of the given label."""
    return probs[np.arange(len(given)), given]


@SCORES.register("normalized_margin")
def normalized_margin(probs: np.ndarray, given: np.ndarray) -> np.ndarray:
    """(p(given) - the largest other probability + 1) / 2: below 0.5 when another class wins."""
    rows = np.arange(len(given))
    own = probs[rows, given]
    others = probs.copy()
    others[rows, given] = -np.inf
    best_other = others.max(axis=1) if probs.shape[1] > 1 else np.zeros(len(given))
    return (own - best_other + 1.0) / 2.0


Flag = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
FLAGS: Registry[Flag] = Registry("audit flagging rule", ConfigError)


@FLAGS.register("confident_joint")
def off_diagonal(
    probs: np.ndarray, given: np.ndarray, confident: np.ndarray, calibrated: np.ndarray
) -> np.ndarray:
    """The texts confidently of a class other than the given one (the confident joint's off-diagonal)."""
    return (confident >= 0) & (confident != given)


@FLAGS.register("noise_rate")
def by_noise_rate(
    probs: np.ndarray, given: np.ndarray, confident: np.ndarray, calibrated: np.ndarray
) -> np.ndarray:
    """For every (given i, true j) cell off the diagonal, the round(N * Q[i, j]) texts labelled i
    with the largest margin p(j) - p(i): as many texts as the estimated joint says are wrong."""
    n = len(given)
    flagged = np.zeros(n, dtype=bool)
    for i, j in zip(*np.nonzero(calibrated), strict=True):
        count = int(round(n * calibrated[i, j]))
        if i == j or count == 0:
            continue
        members = np.flatnonzero(given == i)
        margin = probs[members, j] - probs[members, i]
        best = np.argsort(-margin, kind="stable")[:count]
        flagged[members[best[margin[best] > 0]]] = True  # only texts that find j likelier than i
    return flagged


def class_thresholds(probs: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Per class j, the mean p(j) over the texts labelled j; inf for a class no text is labelled
    with (no text can then be confidently of it)."""
    num_classes = probs.shape[1]
    counts = np.bincount(given, minlength=num_classes).astype(np.float64)
    sums = np.bincount(given, weights=self_confidence(probs, given), minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)


def confident_labels(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per text, the likeliest class whose threshold its probability reaches; -1 when none does."""
    above = probs >= thresholds[None, :]
    masked = np.where(above, probs, -np.inf)
    labels = masked.argmax(axis=1)
    labels[~above.any(axis=1)] = -1
    return labels


def confident_joint(given: np.ndarray, confident: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [C, C] of (given label, confident label) over the texts that have a confident label."""
    joint = np.zeros((num_classes, num_classes), dtype=np.int64)
    keep = confident >= 0
    np.add.at(joint, (given[keep], confident[keep]), 1)
    return joint


def calibrated_joint(joint: np.ndarray, class_counts: np.ndarray) -> np.ndarray:
    """The joint of (given, true) label as shares summing to 1: each row of the confident joint
    rescaled to its class's size (a row with no confident text keeps its class on the diagonal)."""
    joint = joint.astype(np.float64)
    row_sums = joint.sum(axis=1)
    empty = row_sums == 0
    joint[empty] = 0.0
    joint[empty, np.flatnonzero(empty)] = 1.0
    row_sums = joint.sum(axis=1)
    scaled = joint * (class_counts / row_sums)[:, None]
    total = scaled.sum()
    return scaled / total if total > 0 else scaled


@dataclass
class Ranking:
    """What confident learning says about every text, and about the classes."""

    scores: np.ndarray  # [N] label quality in [0, 1]; lower = more suspect
    order: np.ndarray  # [N] text indices, most suspect first: flagged ones, then the rest, by score
    flagged: np.ndarray  # [N] bool: off the diagonal of the confident joint
    predicted: np.ndarray  # [N] argmax of the out-of-fold probabilities
    confident: np.ndarray  # [N] the confident label, -1 where none
    thresholds: np.ndarray  # [C] mean self-confidence per class
    joint: np.ndarray  # [C, C] confident joint (counts; rows given, columns confident label)
    calibrated: np.ndarray  # [C, C] estimated joint of given and true labels (shares)
    noise_rate: float  # estimated share of wrong labels: 1 - trace(calibrated)

    @property
    def suspects(self) -> np.ndarray:
        """The flagged texts, most suspect first."""
        return self.order[: int(self.flagged.sum())]

    def class_noise(self) -> np.ndarray:
        """[C] estimated share of each class's texts whose given label is wrong."""
        rows = self.calibrated.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(rows > 0, 1.0 - np.diag(self.calibrated) / rows, 0.0)


def rank(
    probs: np.ndarray, given: np.ndarray, score: str = "self_confidence", flag_by: str = "confident_joint"
) -> Ranking:
    """Confident learning on ``probs`` [N, C] and ``given`` [N]; ``score`` names an entry of SCORES,
    ``flag_by`` one of FLAGS."""
    score_fn, flag_fn = SCORES.get(score), FLAGS.get(flag_by)
    probs = np.asarray(probs, dtype=np.float64)
    given = np.asarray(given, dtype=np.int64)
    if probs.ndim != 2 or probs.shape[0] != len(given):
        raise ValueError(f"probs must be [N, C] for {len(given)} labels, got shape {probs.shape}")
    num_classes = probs.shape[1]
    thresholds = class_thresholds(probs, given)
    confident = confident_labels(probs, thresholds)
    joint = confident_joint(given, confident, num_classes)
    counts = np.bincount(given, minlength=num_classes).astype(np.float64)
    calibrated = calibrated_joint(joint, counts)
    flagged = flag_fn(probs, given, confident, calibrated)
    scores = score_fn(probs, given)
    # flagged texts first, each part by score (stable: ties keep file order)
    order = np.lexsort((np.arange(len(given)), scores, ~flagged))
    return Ranking(
        scores=scores,
        order=order,
        flagged=flagged,
        predicted=probs.argmax(axis=1),
        confident=confident,
        thresholds=thresholds,
        joint=joint,
        calibrated=calibrated,
        noise_rate=float(1.0 - np.trace(calibrated)),
    )
