"""The scikit-learn style TextClassifier: fit/predict/score, save/load round trip, params, inputs."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_sentiment
from fenlei import TextClassifier
from fenlei.errors import ConfigError, FenleiError

FAST = {"epochs": 4, "batch_size": 16, "lr": 0.02, "seed": 1, "threads": 1}


def _data(n: int, seed: int):
    rows = make_sentiment(n, seed)
    return [t for _, t in rows], [y for y, _ in rows]


def test_fit_predict_save_load_round_trip(tmp_path):
    texts, labels = _data(160, 0)
    test_texts, test_labels = _data(40, 2)
    clf = TextClassifier(model="fasttext", embed_dim=16, **FAST)
    assert clf.fit(texts, labels, dev=_data(40, 1)) is clf
    assert set(clf.classes_) == {"pos", "neg"}
    probs = clf.predict_proba(test_texts)
    assert probs.shape == (40, 2) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert list(clf.predict(test_texts)) == [clf.classes_[i] for i in probs.argmax(1)]
    assert clf.score(test_texts, test_labels) > 0.8

    saved = clf.save(tmp_path / "clf")
    again = TextClassifier.load(saved)
    assert np.array_equal(again.predict_proba(test_texts), probs)  # identical, not just close
    assert again.get_params()["embed_dim"] == 16 and again.model == "fasttext"


def test_numpy_pandas_and_int_labels():
    import pandas as pd

    texts, labels = _data(120, 3)
    ints = np.array([1 if y == "pos" else 0 for y in labels])
    clf = TextClassifier(model="fasttext", embed_dim=16, **FAST).fit(pd.Series(texts), ints)
    pred = clf.predict(np.array(texts[:10]))
    assert pred.dtype == np.int64 and set(pred) <= {0, 1}  # labels come back as the type given
    assert clf.score(pd.Series(texts), pd.Series(ints)) > 0.8
    assert clf.predict([]).shape == (0,)


def test_params_sections_and_errors():
    clf = TextClassifier(model="textcnn", num_filters=8, objective__name="rdrop", epochs=2)
    assert clf.get_params()["num_filters"] == 8
    assert clf.set_params(lr=0.5) is clf and clf.get_params()["lr"] == 0.5
    raw = clf._raw_config()
    assert raw["model"] == {"name": "textcnn", "num_filters": 8}
    assert raw["objective"] == {"name": "rdrop"} and raw["train"] == {"epochs": 2, "lr": 0.5}
    # the constructor only stores; fit checks
    with pytest.raises(ConfigError, match="not_a_key: not a config key"):
        TextClassifier(model="textcnn", not_a_key=1).fit(["a", "b"], ["x", "y"])
    with pytest.raises(ConfigError, match="name: ambiguous"):
        TextClassifier(name="x").fit(["a", "b"], ["x", "y"])
    with pytest.raises(FenleiError, match="not fitted"):
        TextClassifier().predict(["a"])
    with pytest.raises(FenleiError, match="one string"):
        TextClassifier(**FAST).fit("just one text", ["a"])
    with pytest.raises(FenleiError, match=r"texts\[1\]: expected a string"):
        TextClassifier(**FAST).fit(["ok", None], ["a", "b"])
    with pytest.raises(FenleiError, match="2 labels for 3 texts"):
        TextClassifier(**FAST).fit(["a", "b", "c"], ["x", "y"])


def test_multi_label_lists():
    rng = np.random.default_rng(0)
    words = {"sports": "goal", "politics": "vote", "tech": "chip"}
    texts, labels = [], []
    for _ in range(150):
        chosen = sorted(rng.choice(list(words), size=rng.integers(1, 3), replace=False).tolist())
        texts.append(" ".join([words[c] for c in chosen] + ["the", "news", "today"]))
        labels.append(chosen)
    clf = TextClassifier(model="fasttext", embed_dim=16, **{**FAST, "epochs": 15}).fit(texts, labels)
    pred = clf.predict(["goal vote the news", "chip today"])
    assert sorted(pred[0]) == ["politics", "sports"] and list(pred[1]) == ["tech"]
    assert clf.score(texts[:50], labels[:50]) > 0.9
