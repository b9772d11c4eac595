"""The numpy backend: the torch model's probabilities without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from tests.conftest import FAST, make_sentiment, write_tsv

from fenlei.config import load_config
from fenlei.inference import load
from fenlei.inference.numpy_predictor import NumpyPredictor
from fenlei.inference.predictor import Predictor
from fenlei.training.pipeline import train

TEXTS = ["the film was good", "awful", "", "a b c d e f g h i j k l", "quite charming and really moving"]


def _train(tmp_path, name: str, extra: list[str]):
    rows = make_sentiment(120, 0)
    if "data.multi_label=true" in extra:  # a second label on every third text
        rows = [(label + ("|long" if len(text) > 30 else ""), text) for label, text in rows]
    path = write_tsv(tmp_path / f"{name}.tsv", rows)
    cfg = load_config(None, [f"data.train={path}", "model.embed_dim=8", *FAST, *extra])
    return train(cfg, tmp_path / name, quiet=True).run_dir


@pytest.mark.parametrize(
    "extra",
    [
        ["model.name=fasttext", "model.ngrams=3", "model.buckets=97"],
        ["model.name=fasttext", "model.ngrams=1"],
        ["model.name=fasttext", "model.hidden=6", "model.bias=false", "model.ngram_dim=5"],
        ["model.name=fasttext", "data.multi_label=true"],
        ["model.name=fasttext", "model.solver=sgd", "model.ngrams=3", "model.buckets=97"],
        ["model.name=fasttext", "model.pooling=joint", "model.hidden=6"],
    ],
    ids=["trigrams", "words", "hidden", "multi-label", "sgd-joint", "joint-hidden"],
)
def test_numpy_matches_torch(tmp_path, extra):
    run = _train(tmp_path, "run", extra)
    fast, ref = load(run, "numpy"), load(run, "torch")
    assert isinstance(fast, NumpyPredictor) and type(ref) is Predictor
    texts = TEXTS + [t for _, t in make_sentiment(300, 5)]
    np.testing.assert_allclose(fast.predict_proba(texts), ref.predict_proba(texts), atol=1e-5)
    a, b = fast.predict(TEXTS, top_k=2), ref.predict(TEXTS, top_k=2)
    assert [sorted(r) for r in a] == [sorted(r) for r in b]
    assert [_names(r) for r in a] == [_names(r) for r in b]
    assert fast.predict_proba([]).shape == (0, len(ref.label_names))


def _names(result: dict) -> list[str]:
    """The answer's label(s), without the probabilities (equal to ~1e-7 only)."""
    return [result["label"]] if "label" in result else [x["label"] for x in result["labels"]]


def test_auto_picks_numpy_only_for_a_family_it_serves(tmp_path):
    assert type(load(_train(tmp_path, "ft", ["model.name=fasttext"]))) is NumpyPredictor
    cnn = _train(tmp_path, "cnn", ["model.name=textcnn", "model.filter_sizes=[2]", "model.num_filters=4"])
    assert type(load(cnn)) is Predictor
    with pytest.raises(Exception, match="no numpy forward.*--backend torch"):
        load(cnn, "numpy")


def test_numpy_explains_through_the_torch_model(tmp_path):
    run = _train(tmp_path, "ft", ["model.name=fasttext"])
    fast, ref = load(run, "numpy"), load(run, "torch")
    a, b = fast.explain(["the film was good"]), ref.explain(["the film was good"])
    assert a[0].to_dict() == b[0].to_dict()


def test_predict_cli_does_not_import_torch(tmp_path):
    run = _train(tmp_path, "ft", ["model.name=fasttext"])
    code = (
        "import sys; from fenlei.cli import main\n"
        "sys.argv = ['fenlei', 'predict', sys.argv[1], 'good film']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m for m in ('torch', 'sklearn', 'transformers') if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json\n" + code, str(run)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert json.loads(out[0])["label"] in {"pos", "neg"}
    assert json.loads(out[-1]) == []
