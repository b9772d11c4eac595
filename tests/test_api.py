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


# ---------------------------------------------------------------- scikit-learn's own tools

SK = {"embed_dim": 8, "epochs": 3, "batch_size": 16, "lr": 0.05, "seed": 1, "threads": 1, "buckets": 500}


def test_clone_keeps_every_argument_as_given_and_drops_the_fit():
    from sklearn.base import clone

    texts, labels = _data(60, 4)
    clf = TextClassifier(model="fasttext", objective__label_smoothing=0.1, **SK).fit(texts, labels)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and copy is not clf
    assert not hasattr(copy, "classes_") and not hasattr(copy, "predictor_")
    assert "objective__label_smoothing=0.1" in repr(copy)


def test_cross_val_score_grid_search_pipeline_and_pandas():
    import pandas as pd
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    texts, labels = _data(150, 5)
    X, y = pd.Series(texts), pd.Series(labels)
    scores = cross_val_score(TextClassifier(model="fasttext", **SK), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.6

    search = GridSearchCV(TextClassifier(model="fasttext", **SK), {"lr": [1e-4, 0.05]}, cv=3)
    search.fit(X, y)
    assert search.best_params_ == {"lr": 0.05}  # a rate that small learns nothing in 3 epochs
    assert search.best_estimator_.lr == 0.05 and search.score(X, y) > 0.8

    shout = FunctionTransformer(lambda batch: [t.upper() for t in batch])
    pipe = make_pipeline(shout, TextClassifier(model="fasttext", lowercase=False, **SK)).fit(X, y)
    assert pipe.score(X, y) > 0.8
    vocab = pipe[-1].predictor_.encoder.vocab.tokens
    assert "GOOD" in vocab and "good" not in vocab  # the texts reached the model transformed
