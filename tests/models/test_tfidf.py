"""The tfidf family: scikit-learn's TF-IDF + linear model, fitted in closed form, run as a fenlei run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_sentiment
from fenlei.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _train(cli, run, data: dict, *sets: str):
    args = [f"data.{k}={v}" for k, v in data.items()] + ["model.name=tfidf", "train.tensorboard=false", *sets]
    code, out, err = cli("train", "-o", str(run), "--quiet", *[x for s in args for x in ("--set", s)])
    assert code == 0, err
    return json.loads((run / "metrics.json").read_text())


def test_predictions_are_scikit_learns_and_the_run_holds_no_pickle(cli, tmp_path, tiny_data):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from fenlei.data.readers import read_examples
    from fenlei.inference import load

    metrics = _train(cli, tmp_path / "run", tiny_data, "model.C=4", "model.nb=false")
    assert metrics["train"]["closed_form"]["C"] == 4.0 and metrics["train"]["steps"] == 0
    train, test = read_examples(tiny_data["train"]), read_examples(tiny_data["test"])
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
    lr = LogisticRegression(C=4.0, solver="liblinear", random_state=0).fit(
        vec.fit_transform(train.texts), train.labels
    )
    expected = lr.predict_proba(vec.transform(test.texts))
    got = load(tmp_path / "run").predict_proba(test.texts)
    assert np.abs(got - expected).max() < 1e-5
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), path  # pickle protocol 2+ opcode
    meta = json.loads((tmp_path / "run" / "tokenizer.json").read_text())
    assert meta["type"] == "tfidf" and meta["analyzer"] == "word" and meta["ngram_range"] == [1, 2]


def test_c_is_chosen_on_dev_and_svm_probabilities_are_calibrated(cli, tmp_path, tiny_data):
    chosen = _train(cli, tmp_path / "lr", tiny_data)["train"]["closed_form"]
    assert set(chosen["dev_by_C"]) <= {"0.5", "2", "8", "32", "128"} and chosen["C"] in (
        0.5,
        2.0,
        8.0,
        32.0,
        128.0,
    )
    svm = _train(cli, tmp_path / "svm", tiny_data, "model.classifier=svm")
    assert svm["test"]["accuracy"] > 0.85
    probs = np.loadtxt(tmp_path / "svm" / "predictions.tsv", delimiter="\t", skiprows=1, usecols=(4, 5))
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5) and ((probs > 1e-3) & (probs < 1 - 1e-3)).any()


def test_chinese_reads_characters_and_multi_label_is_one_vs_rest(cli, tmp_path, tiny_zh):
    run = tmp_path / "zh"
    metrics = _train(cli, run, tiny_zh)
    assert metrics["data"]["tokenizer"] == "tfidf-char" and metrics["test"]["accuracy"] > 0.9
    data = {
        split: ROOT / "tests" / "data" / "multilabel" / f"{split}.tsv" for split in ("train", "dev", "test")
    }
    ml = _train(cli, tmp_path / "ml", data, "data.multi_label=true")
    assert ml["test"]["micro_f1"] > 0.9 and (tmp_path / "ml" / "thresholds.json").is_file()


def test_a_loss_does_not_apply(tmp_path):
    from fenlei.config import load_config
    from fenlei.resolve import resolve

    for extra in ("objective.name=rdrop", "objective.adversarial=1.0"):
        with pytest.raises(ConfigError, match="fitted in closed form"):
            resolve(load_config(None, ["model.name=tfidf", extra]), in_memory=True)
    with pytest.raises(ConfigError, match="no embedding table"):
        resolve(load_config(None, ["model.name=tfidf", "model.vectors=glove-6b-50d"]), in_memory=True)


def test_python_api_and_empty_or_unseen_texts():
    from fenlei import TextClassifier

    rows = make_sentiment(120, 7)
    clf = TextClassifier(model="tfidf").fit([t for _, t in rows], [y for y, _ in rows])
    assert clf.score([t for _, t in rows], [y for y, _ in rows]) > 0.95
    probs = clf.predict_proba(["", "zzz qqq", "good"])  # no feature at all: the prior of the intercepts
    assert np.allclose(probs.sum(1), 1.0) and np.allclose(probs[0], probs[1])
