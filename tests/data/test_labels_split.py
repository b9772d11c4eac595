"""LabelMap order, encoding and files; the stratified dev split."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fenlei.data.examples import Examples
from fenlei.data.labels import LabelMap
from fenlei.data.split import stratified_split
from fenlei.errors import DataError

# --- LabelMap ------------------------------------------------------------------------------


def test_integer_labels_sort_numerically():
    assert LabelMap.fit(["10", "2", "0", "1", "2"]).names == ["0", "1", "2", "10"]


def test_other_labels_sort_as_strings():
    assert LabelMap.fit(["pos", "neg", "pos", "10"]).names == ["10", "neg", "pos"]


def test_single_class_is_an_error():
    with pytest.raises(DataError, match="only one class 'pos'; a classifier needs at least two"):
        LabelMap.fit(["pos", "pos"])
    with pytest.raises(DataError, match="no labels"):
        LabelMap.fit(None)


def test_encode_decode():
    lm = LabelMap.fit(["neg", "pos"])
    ids, kept = lm.encode(["pos", "neg", "pos"])
    assert ids == [1, 0, 1] and kept == [0, 1, 2]
    assert lm.decode(ids) == ["pos", "neg", "pos"]
    assert len(lm) == 2 and "pos" in lm and "meh" not in lm


def test_unseen_label_error_names_label_and_file():
    lm = LabelMap.fit(["neg", "pos"])
    with pytest.raises(DataError) as info:
        lm.encode(["pos", "meh", "meh"], source="dev.tsv")
    msg = str(info.value)
    assert "dev.tsv" in msg and "'meh' (2 rows)" in msg and "data.unseen_labels: skip" in msg


def test_unseen_label_skip():
    lm = LabelMap.fit(["neg", "pos"])
    ids, kept = lm.encode(["pos", "meh", "neg"], unseen="skip")
    assert ids == [1, 0] and kept == [0, 2]


def test_save_load_round_trip(tmp_path):
    lm = LabelMap.fit(["体育", "财经", "游戏"])
    lm.save(tmp_path / "labels.json")
    assert "体育" in (tmp_path / "labels.json").read_text(encoding="utf-8")
    assert LabelMap.load(tmp_path / "labels.json") == lm


def test_load_corrupt(tmp_path):
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(ValueError):
        LabelMap.load(tmp_path / "a.json")
    (tmp_path / "b.json").write_text('{"names": ["a"]}')
    with pytest.raises(KeyError):
        LabelMap.load(tmp_path / "b.json")


# --- stratified_split ----------------------------------------------------------------------


def examples(labels: list[str]) -> Examples:
    return Examples([f"text {i}" for i in range(len(labels))], labels, "train.tsv", {"empty_text": 3})


def test_split_is_stratified_and_deterministic():
    ex = examples(["a"] * 80 + ["b"] * 15 + ["c"] * 5)
    train, dev = stratified_split(ex, 0.2, seed=1)
    again_train, again_dev = stratified_split(ex, 0.2, seed=1)
    assert dev.texts == again_dev.texts and train.texts == again_train.texts
    assert len(dev) == 20 and len(train) == 80
    assert Counter(dev.labels) == {"a": 16, "b": 3, "c": 1}
    assert set(train.texts).isdisjoint(dev.texts)
    assert stratified_split(ex, 0.2, seed=2)[1].texts != dev.texts
    assert train.skipped == {"empty_text": 3}  # read-time skips stay with the train part


def test_every_class_with_two_examples_reaches_dev():
    ex = examples(["big"] * 200 + [f"small{i}" for i in range(20) for _ in range(2)] + ["alone"])
    train, dev = stratified_split(ex, 0.05, seed=0)
    assert {f"small{i}" for i in range(20)} <= set(dev.labels)
    assert set(train.labels) == set(ex.labels)  # train keeps every class, the singleton included
    assert "alone" not in dev.labels


def test_tiny_and_unsplittable():
    train, dev = stratified_split(examples(["a", "b", "a", "b"]), 0.1, seed=0)
    assert sorted(dev.labels) == ["a", "b"] and sorted(train.labels) == ["a", "b"]
    with pytest.raises(DataError, match="give data.dev"):
        stratified_split(examples(["a"]), 0.1, seed=0)
    with pytest.raises(DataError, match="one example"):
        stratified_split(examples(["a", "b", "c"]), 0.5, seed=0)


def test_unlabelled_split():
    ex = Examples([str(i) for i in range(10)], None)
    train, dev = stratified_split(ex, 0.3, seed=0)
    assert len(dev) == 3 and train.labels is None
    assert sorted(train.texts + dev.texts) == sorted(ex.texts)


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.sampled_from("abcdef"), min_size=2, max_size=60),
    ratio=st.floats(0.05, 0.5),
    seed=st.integers(0, 2**16),
)
def test_split_partitions_and_covers_classes(labels, ratio, seed):
    counts = Counter(labels)
    ex = examples(labels)
    if all(n == 1 for n in counts.values()):
        with pytest.raises(DataError):
            stratified_split(ex, ratio, seed)
        return
    train, dev = stratified_split(ex, ratio, seed)
    assert sorted(train.texts + dev.texts) == sorted(ex.texts)
    assert set(train.labels) == set(labels)
    assert {c for c, n in counts.items() if n >= 2} <= set(dev.labels)
