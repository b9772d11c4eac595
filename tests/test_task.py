"""The label scheme as one interface with two implementations (task.py): what each decides."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fenlei.config import load_config
from fenlei.data.examples import Examples
from fenlei.errors import ConfigError, DataError
from fenlei.rundir import RunDir
from fenlei.task import MultiLabel, SingleLabel, make_task

NAMES = ["neg", "neu", "pos"]


def test_the_data_config_picks_the_task():
    assert isinstance(make_task(load_config(None, []).data), SingleLabel)
    task = make_task({"multi_label": True, "label_separator": ";"})  # a saved config.yaml's dict
    assert isinstance(task, MultiLabel) and task.separator == ";"
    assert (SingleLabel.default_objective, SingleLabel.default_metric) == ("cross_entropy", "accuracy")
    assert (MultiLabel.default_objective, MultiLabel.default_metric) == ("bce", "micro_f1")


def test_probabilities_and_answers():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 3.0]])
    single, multi = SingleLabel(), MultiLabel()
    assert torch.allclose(single.probabilities(logits).sum(-1), torch.ones(2))
    assert torch.allclose(multi.probabilities(logits), torch.sigmoid(logits))
    row = np.array([0.1, 0.7, 0.6])
    assert single.answer("t", row, NAMES, 2) == {
        "text": "t",
        "label": "neu",
        "probability": pytest.approx(0.7),
        "top": [{"label": "neu", "probability": pytest.approx(0.7)}, {"label": "pos", "probability": 0.6}],
    }
    answer = multi.answer("t", row, NAMES, 1)
    assert [x["label"] for x in answer["labels"]] == ["neu", "pos"] and len(answer["top"]) == 1
    classes = np.array(NAMES, dtype=object)
    assert list(single.predict_labels(row[None], classes)) == ["neu"]
    assert list(multi.predict_labels(row[None], classes)[0]) == ["neu", "pos"]


def test_multi_label_thresholds_are_tuned_saved_and_loaded(tmp_path):
    y = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]])
    probs = np.array([[0.4, 0.1, 0.2], [0.2, 0.45, 0.9], [0.35, 0.5, 0.1], [0.1, 0.2, 0.3]])
    task = MultiLabel()
    assert task.score(y, probs, NAMES)["micro_f1"] < 1.0  # at 0.5 most positives are missed
    task.tune(y, probs, "per_label")
    assert task.score(y, probs, NAMES)["micro_f1"] == 1.0
    rd = RunDir(tmp_path)
    rd.save_decision(task, NAMES)
    again = MultiLabel()
    rd.read_decision(again, NAMES)
    assert np.array_equal(again.thresholds, task.thresholds) and again.policy == "per_label"
    single = SingleLabel()
    single.tune(y[:, 0], probs, "global")  # argmax needs no rule: nothing to save
    assert single.decision_state(NAMES) is None


@pytest.mark.parametrize("task", [SingleLabel(), MultiLabel()], ids=["single", "multi"])
def test_prediction_rows_round_trip_through_the_run_directory(tmp_path, task):
    texts = ["a\tb", "c\nd", "e"]
    gold = [0, 2, 1] if isinstance(task, SingleLabel) else [[1, 0, 1], [0, 0, 1], [0, 1, 0]]
    probs = np.array([[0.6, 0.1, 0.7], [0.2, 0.1, 0.7], [0.1, 0.8, 0.1]], dtype=np.float64)
    rd = RunDir(tmp_path)
    rd.write_predictions(task, texts, gold, probs, NAMES)
    back = rd.read_predictions(task, NAMES)
    assert back.texts == ["a b", "c d", "e"]  # tabs and line breaks would break the TSV
    assert np.array_equal(back.y_true, np.asarray(gold)) and np.allclose(back.probs, probs, atol=1e-6)
    assert task.indicator(back.y_true, 3).shape == (3, 3)


def test_label_encoding_and_dev_split_per_task():
    single, multi = SingleLabel(), MultiLabel()
    labels = single.fit_labels(["b", "a", "b"])
    assert single.encode(labels, ["a", "b"])[0] == [0, 1]
    with pytest.raises(DataError, match="never occurs in train"):
        single.encode(labels, ["c"])
    assert single.encode(labels, ["c", "a"], unseen="skip") == ([0], [1])
    mlabels = multi.fit_labels([["x", "y"], ["y"]])
    assert multi.encode(mlabels, [["y"], ["x", "y"]])[0] == [[0, 1], [1, 1]]
    ex = Examples([f"t{i}" for i in range(20)], [["x"] if i % 2 else ["x", "y"] for i in range(20)])
    train, dev = multi.split_dev(ex, 0.2, 0)
    assert len(train) + len(dev) == 20 and {tuple(r) for r in dev.labels} == {("x",), ("x", "y")}
    with pytest.raises(DataError, match="data.multi_label"):
        single.check_train(Examples(["a", "b", "c"], ["x", "y", "x|y"]))


def test_config_checks_belong_to_the_task():
    cfg = load_config(None, ["train.metric=samples_f1"])
    with pytest.raises(ConfigError, match="multi-label metric"):
        SingleLabel().check_config(cfg)
    cfg = load_config(None, ["data.multi_label=true", "data.labeled_per_class=5"])
    with pytest.raises(ConfigError, match="single-label only"):
        MultiLabel().check_config(cfg)
    assert "data.multi_label" in SingleLabel().objective_error("bce")
    assert "bce" in MultiLabel().objective_error("rdrop")
    assert MultiLabel.unstreamable and SingleLabel.unstreamable is None
    assert MultiLabel().section_note("confusion-matrix") and SingleLabel().section_note("mcc") is None
