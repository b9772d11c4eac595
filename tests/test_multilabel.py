"""Multi-label: reading label lists, BCE, thresholds, metrics, config, and the CLI end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from conftest import write_tsv
from fenlei.config import Config, load_config
from fenlei.data.label_cells import ListCells
from fenlei.data.labels import LabelMap
from fenlei.data.loading import load_splits
from fenlei.data.readers import read_examples
from fenlei.errors import ConfigError, DataError
from fenlei.evaluation.metrics import multilabel_metrics
from fenlei.evaluation.thresholds import decide, tune_thresholds
from fenlei.objectives import Context, build_objective
from fenlei.resolve import resolve
from fenlei.task import MultiLabel, SingleLabel

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "multilabel"
RECIPE = ROOT / "configs" / "multilabel-example.yaml"


def _jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------- reading


def test_jsonl_list_labels(tmp_path):
    path = _jsonl(
        tmp_path / "a.jsonl",
        [
            {"text": "goal and vote", "label": ["sports", "politics"]},
            {"text": "chip", "label": ["tech", " tech ", ""]},  # repeats and blanks drop out
            {"text": "doctor", "label": "health|tech"},  # a string is split on the separator
            {"text": "nothing", "label": []},  # empty list: counted, not fatal
        ],
    )
    ex = read_examples(path, cells=ListCells("|"))
    assert ex.labels == [["sports", "politics"], ["tech"], ["health", "tech"]]
    assert ex.texts == ["goal and vote", "chip", "doctor"]
    assert ex.skipped == {"empty_label_list": 1}


def test_tsv_and_csv_separator(tmp_path):
    tsv = write_tsv(tmp_path / "a.tsv", [("sports|politics", "goal vote"), ("tech", "chip"), (" | ", "x")])
    ex = read_examples(tsv, cells=ListCells("|"))
    assert ex.labels == [["sports", "politics"], ["tech"]]
    assert ex.skipped == {"empty_label_list": 1}
    csv = tmp_path / "a.csv"
    csv.write_text('text,label\n"goal, vote","sports;politics"\nchip,tech\n', encoding="utf-8")
    ex = read_examples(csv, cells=ListCells(";"))
    assert ex.labels == [["sports", "politics"], ["tech"]]


def test_single_label_run_given_lists_says_set_multi_label(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", [{"text": "goal", "label": ["sports"]}, {"text": "x", "label": "a"}])
    with pytest.raises(DataError, match=r"a\.jsonl, line 1: .*set data\.multi_label: true"):
        read_examples(path)
    rows = [("sports", "goal"), ("politics", "vote"), ("sports|politics", "goal vote")] * 4
    cfg = Config().data
    cfg.train = write_tsv(tmp_path / "t.tsv", rows)
    with pytest.raises(DataError, match="set data.multi_label: true"):
        load_splits(cfg)


def _ml_data(tmp_path, train_rows, **kw):
    cfg = load_config(None, ["data.multi_label=true"]).data
    cfg.train = write_tsv(tmp_path / "train.tsv", train_rows)
    for key, value in kw.items():
        setattr(cfg, key, value)
    return cfg


def test_bad_rows_are_counted_not_fatal(tmp_path):
    good = [("sports", "goal"), ("politics", "vote"), ("sports|politics", "goal vote"), ("tech", "chip")] * 10
    bad = [("sports,politics", "goal and vote"), ("", "no label"), ("|", "only a separator")]
    dev = write_tsv(tmp_path / "dev.tsv", good[:12] + [("tech,sports", "chip goal")])
    splits = load_splits(_ml_data(tmp_path, good + bad, dev=dev))
    assert splits.notes == {"train_label_not_split": 1, "train_empty_label_list": 2, "dev_label_not_split": 1}
    assert splits.labels.names == ["politics", "sports", "tech"]
    assert splits.train_ids[2] == [1, 1, 0]
    assert len(splits.dev) == 12


def test_wrong_separator_for_the_whole_file_raises(tmp_path):
    rows = [("sports", "goal"), ("politics", "vote"), ("sports,politics", "goal vote")] * 5
    with pytest.raises(DataError, match="set data.label_separator: ','"):
        load_splits(_ml_data(tmp_path, rows))


def test_dev_split_from_train_keeps_every_label_in_train(tmp_path):
    rows = [("a", "x"), ("b", "y"), ("a|b", "x y"), ("c", "z")] * 10 + [("a|c", "x z")]
    splits = load_splits(_ml_data(tmp_path, rows, dev_ratio=0.2))
    assert len(splits.train) + len(splits.dev) == len(rows)
    assert np.asarray(splits.train_ids).sum(0).min() > 0
    assert ["a", "c"] in splits.train.labels  # a label set seen once stays in train


def test_unseen_label_in_test(tmp_path):
    rows = [("a", "x"), ("b", "y"), ("a|b", "x y")] * 4
    test = write_tsv(tmp_path / "test.tsv", [("a|d", "x w"), ("b", "y")])
    with pytest.raises(DataError, match="label 'd'.*data.unseen_labels: skip"):
        load_splits(_ml_data(tmp_path, rows, test=test))
    splits = load_splits(_ml_data(tmp_path, rows, test=test, unseen_labels="skip"))
    assert splits.test_ids == [[0, 1]] and splits.notes["test_unseen_label"] == 1


# ---------------------------------------------------------------- config


def _resolved(overrides):
    return resolve(load_config(None, overrides), in_memory=True).cfg


def test_config_defaults_follow_multi_label():
    cfg = _resolved(["data.multi_label=true"])
    assert (cfg.objective.name, cfg.train.metric) == ("bce", "micro_f1")
    cfg = _resolved(["data.multi_label=true", "train.metric=accuracy"])
    assert cfg.train.metric == "accuracy"  # said so: kept (subset accuracy)
    with pytest.raises(ConfigError, match="objective.name: 'cross_entropy' is a single-label"):
        _resolved(["data.multi_label=true", "objective.name=cross_entropy"])
    with pytest.raises(ConfigError, match="objective.name: bce .* data.multi_label: true"):
        _resolved(["objective.name=bce"])
    with pytest.raises(ConfigError, match="train.metric: mcc"):
        _resolved(["data.multi_label=true", "train.metric=mcc"])
    with pytest.raises(ConfigError, match="train.threshold"):
        load_config(None, ["train.threshold=best"])
    assert (
        load_config(None, ["data.multi_label=true", "train.threshold=per_label"]).train.threshold
        == "per_label"
    )


# ---------------------------------------------------------------- objective, thresholds, metrics


def test_bce_matches_torch():
    torch.manual_seed(0)
    logits = torch.randn(5, 3)
    labels = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0], [1, 0, 0]])
    cfg = _resolved(["data.multi_label=true"]).objective
    ctx = Context(MultiLabel(), LabelMap(["a", "b", "c"]), labels.tolist())
    objective = build_objective(cfg, ctx)
    out = objective(lambda batch: logits, {"labels": labels})
    assert out["logits"].shape == (5, 3)
    expected = torch.nn.BCEWithLogitsLoss()(logits, labels.float())
    assert float(out["loss"]) == pytest.approx(float(expected), rel=1e-6)
    cfg.class_weights = "balanced"  # pos_weight = negatives / positives per label
    objective = build_objective(cfg, ctx)
    pos_weight = torch.tensor([2 / 3, 3 / 2, 3 / 2])
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)(logits, labels.float())
    assert float(objective.loss(logits, labels)) == pytest.approx(float(expected), rel=1e-6)
    cfg.class_weights = [1.0, 2.0]
    with pytest.raises(ConfigError, match="2 values but the data has 3 labels"):
        build_objective(cfg, ctx)
    assert torch.allclose(MultiLabel().probabilities(logits), torch.sigmoid(logits))
    assert torch.allclose(SingleLabel().probabilities(logits).sum(-1), torch.ones(5))


def test_threshold_tuning_picks_the_f1_best():
    # Positives score 0.35-0.6, negatives 0.1-0.3: 0.5 misses two positives, 0.31-0.35 gets all.
    y = np.array([[1, 0], [1, 0], [1, 1], [0, 1], [0, 0], [0, 1]])
    p = np.array([[0.35, 0.1], [0.4, 0.2], [0.6, 0.9], [0.3, 0.8], [0.2, 0.3], [0.1, 0.7]])
    t = tune_thresholds(y, p, "global")
    assert t.tolist() == [0.35, 0.35]  # the best-F1 values nearest 0.5
    assert multilabel_metrics(y, p, ["a", "b"], t)["micro_f1"] == 1.0
    assert multilabel_metrics(y, p, ["a", "b"])["micro_f1"] < 1.0
    # per label: label b alone can go up to 0.7 (its negatives score 0.1-0.3)
    t = tune_thresholds(y, p, "per_label")
    assert t[0] == 0.35 and 0.31 <= t[1] <= 0.5
    # a label with no positive in dev keeps the global threshold
    y2 = np.array([[1, 0], [0, 0], [1, 0]])
    p2 = np.array([[0.2, 0.9], [0.1, 0.1], [0.3, 0.8]])
    t2 = tune_thresholds(y2, p2, "per_label")
    assert t2[1] == tune_thresholds(y2, p2, "global")[1]


def test_metrics_match_sklearn():
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    p = np.array([[0.9, 0.2, 0.4], [0.1, 0.7, 0.2], [0.8, 0.3, 0.1], [0.4, 0.1, 0.9]])
    thr = np.array([0.5, 0.5, 0.3])
    pred = decide(p, thr)
    assert pred.tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1]]
    m = multilabel_metrics(y, p, ["a", "b", "c"], thr)
    for avg in ("micro", "macro", "samples", "weighted"):
        assert m[f"{avg}_f1"] == pytest.approx(skm.f1_score(y, pred, average=avg, zero_division=0))
    assert m["subset_accuracy"] == m["accuracy"] == pytest.approx(0.75)
    assert m["hamming_loss"] == pytest.approx(skm.hamming_loss(y, pred)) == pytest.approx(1 / 12)
    for i, name in enumerate("abc"):
        assert m["per_label_roc_auc"][name] == pytest.approx(skm.roc_auc_score(y[:, i], p[:, i]))
    assert m["per_class"]["c"]["threshold"] == 0.3
    # a label with one class only in gold has no AUC and stays out of the mean
    y[:, 1] = 0
    m = multilabel_metrics(y, p, ["a", "b", "c"], thr)
    assert m["per_label_roc_auc"]["b"] is None
    assert m["roc_auc"] == pytest.approx(np.mean([m["per_label_roc_auc"][n] for n in "ac"]))


# ---------------------------------------------------------------- the data and the CLI


def test_tiny_data_is_what_the_generator_makes():
    spec = importlib.util.spec_from_file_location(
        "make_multilabel", ROOT / "tests" / "data" / "make_multilabel.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for split, n in module.SIZES.items():
        expected = module.tsv_text(module.make_rows(n, module.SEEDS[split]))
        assert (DATA / f"{split}.tsv").read_text(encoding="utf-8") == expected, split


def test_cli_train_predict_evaluate(cli, tmp_path, one_thread):
    train = tmp_path / "train.tsv"  # the recipe's train file plus rows that must be skipped
    bad = "\t no label at all\nsports,politics\tgoal and vote\n"
    train.write_text((DATA / "train.tsv").read_text(encoding="utf-8") + bad, encoding="utf-8")
    run = tmp_path / "run"
    sets = ["--set", f"data.train={train}", "--set", "train.progress=false", "--set", "train.epochs=12"]
    code, out, err = cli("train", str(RECIPE), "-o", str(run), "--quiet", *sets)
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["metric"] == "micro_f1"
    assert metrics["test"]["micro_f1"] > 0.9, metrics["test"]
    for key in ("macro_f1", "samples_f1", "subset_accuracy", "hamming_loss", "roc_auc", "per_label_roc_auc"):
        assert key in metrics["test"]
    assert metrics["data"]["skipped"] == {"train_empty_label_list": 1, "train_label_not_split": 1}
    thresholds = json.loads((run / "thresholds.json").read_text())
    assert thresholds["policy"] == "global"
    assert set(thresholds["thresholds"]) == {"sports", "politics", "tech", "health"}
    lines = (run / "predictions.tsv").read_text().splitlines()
    assert lines[0].split("\t")[:3] == ["text", "labels", "predicted"] and len(lines) == 101
    assert sum(row.split("\t")[1] == row.split("\t")[2] for row in lines[1:]) > 80

    code, out, err = cli("predict", str(run), "the coach met the minister before the vote", "a new chip")
    assert code == 0, err
    first, second = (json.loads(x) for x in out.strip().splitlines())
    assert {x["label"] for x in first["labels"]} == {"sports", "politics"}
    assert [x["label"] for x in second["labels"]] == ["tech"]
    assert all(0.0 <= x["probability"] <= 1.0 for x in first["labels"])

    code, out, err = cli("evaluate", str(run), "--data", str(DATA / "test.tsv"))
    assert code == 0, err
    evaluated = json.loads(out)
    assert evaluated["micro_f1"] == pytest.approx(metrics["test"]["micro_f1"])
    assert evaluated["hamming_loss"] == pytest.approx(metrics["test"]["hamming_loss"])


def test_cli_single_label_run_on_list_labels_fails_in_one_line(cli, tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", [{"text": "goal", "label": ["sports"]}] * 3)
    code, out, err = cli("train", "--set", f"data.train={path}", "-o", str(tmp_path / "r"))
    assert code == 2
    assert "set data.multi_label: true" in err and "Traceback" not in err
