"""The fold split and its checks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from fenlei.auditing.folds import assign_folds, check_folds
from fenlei.errors import FenleiError


def test_folds_are_stratified_and_seeded():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 10
    fold_of = assign_folds(labels, 5, seed=3)
    assert sorted(Counter(fold_of.tolist()).values()) == [18] * 5
    for f in range(5):
        held = Counter(label for label, g in zip(labels, fold_of, strict=True) if g == f)
        assert held == {"a": 10, "b": 6, "c": 2}
    assert np.array_equal(fold_of, assign_folds(labels, 5, seed=3))
    assert not np.array_equal(fold_of, assign_folds(labels, 5, seed=4))


def test_too_few_texts_of_a_class():
    labels = ["a"] * 20 + ["rare"] * 3
    check_folds(labels, 3, "train.tsv")
    with pytest.raises(FenleiError, match=r"class 'rare' has 3 texts, fewer than --folds 5; give --folds 3"):
        check_folds(labels, 5, "train.tsv")
    with pytest.raises(FenleiError, match="class 'one' has 1 text; an audit needs at least 2"):
        check_folds([*labels, "one"], 2, "train.tsv")
    with pytest.raises(FenleiError, match="at least 2 folds"):
        check_folds(labels, 1, "train.tsv")
    with pytest.raises(FenleiError, match="at least 2 classes"):
        check_folds(["a"] * 10, 2, "train.tsv")
