"""Token attributions (inference/explain.py): every family, on tiny runs trained here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import FAST, make_sentiment, write_tsv
from fenlei.errors import FenleiError
from fenlei.inference.explain import _readable
from fenlei.models import list_models, model_class
from fenlei.models.base import spread_ngrams

pytest.importorskip("captum")

TEXTS = ["the film was really great and lovely", "awful plot , boring", "good"]
EXTRA = {  # the n-gram paths too: fastText's hashed bag, TextCNN's n-gram table and static copy
    "fasttext": ["model.ngrams=3"],
    "textcnn": ["model.ngrams=2", "model.static_copy=true"],
    "transformer": ["train.epochs=4", "train.lr=0.005", "model.head_lr_mult=5", "train.precision=fp32"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_bert):
    """One tiny trained run per family, made on first use."""
    from fenlei.config import load_config
    from fenlei.inference.predictor import Predictor
    from fenlei.training.pipeline import train

    d = tmp_path_factory.mktemp("explain")
    data = write_tsv(d / "train.tsv", make_sentiment(160, 0))
    made = {}

    def get(name: str, *sets: str):
        key = (name, sets)
        if key not in made:
            extra = [f"model.pretrained={tiny_bert}"] if name == "transformer" else []
            cfg = load_config(None, [f"data.train={data}", f"model.name={name}", *FAST, *extra,
                                     *EXTRA.get(name, []), *sets])  # fmt: skip
            torch.manual_seed(0)
            run = train(cfg, d / f"{name}-{len(made)}", quiet=True).run_dir
            made[key] = Predictor(run)
        return made[key]

    return get


def _assert_readable(e):
    for t in e.tokens:
        assert e.text[t.start : t.end] == t.token  # spans point into the text as written


@pytest.mark.parametrize("name", [n for n in list_models() if model_class(n).explainer == "gradients"])
def test_attributions_sum_to_the_logit_minus_the_baseline_logit(runs, name):
    predictor = runs(name)
    out = predictor.explain(TEXTS)
    assert [e.label for e in out] == [r["label"] for r in predictor.predict(TEXTS)]
    for e in out:
        assert e.method == "integrated-gradients"
        gap = e.logit - e.baseline_logit
        assert abs(e.delta) <= 0.02 * max(1.0, abs(gap)) + 1e-3, (name, e.delta, gap)
        assert [t.token for t in e.tokens] == e.text.split()  # words in reading order
        _assert_readable(e)


def test_fasttext_joint_pooling_attributions_are_complete(runs):
    # one mean over words and n-grams: the n-gram bag is a sum that forward divides by the count
    predictor = runs("fasttext", "model.pooling=joint")
    assert predictor.model.joint
    for e in predictor.explain(TEXTS):
        assert abs(e.delta) <= 0.02 * max(1.0, abs(e.logit - e.baseline_logit)) + 1e-3, e.delta


def test_tfidf_attributions_are_exact(runs):
    predictor = runs("tfidf")
    out = predictor.explain(TEXTS)
    for e in out:
        assert e.method == "exact-linear"
        assert abs(e.delta) < 1e-5
        _assert_readable(e)
    # a one-word text: its only feature has TF-IDF value 1, so its score is the centred weight
    words = runs("tfidf", "model.word_ngrams=[1,1]")
    (one,) = words.explain(["good"])
    row = words.model.weight[words.encoder.index["good"]].detach().double()
    c = words.label_names.index(one.label)
    assert one.tokens[0].score == pytest.approx(float(row[c] - row.mean()), abs=1e-6)


@pytest.mark.parametrize("name", ["tfidf", "fasttext"])
def test_the_other_class_of_two_gets_the_opposite_scores(runs, name):
    predictor = runs(name)
    mine, = predictor.explain(["good film"])  # fmt: skip
    other = next(n for n in predictor.label_names if n != mine.label)
    theirs, = predictor.explain(["good film"], label=other)  # fmt: skip
    assert theirs.label == other and theirs.probability == pytest.approx(1 - mine.probability, abs=1e-5)
    for a, b in zip(mine.tokens, theirs.tokens, strict=True):
        assert b.score == pytest.approx(-a.score, abs=1e-4)


def test_windows_of_a_long_text_fold_back_onto_its_words(runs):
    predictor = runs("transformer", "data.window=6", "data.stride=3")
    text = "the film was really great and lovely and the plot was fine"
    (e,) = predictor.explain([text])
    assert [t.token for t in e.tokens] == text.split()
    assert abs(e.delta) <= 0.02 * max(1.0, abs(e.logit - e.baseline_logit)) + 1e-3


def test_chinese_characters_get_their_own_scores(tiny_zh, tmp_path):
    from fenlei.config import load_config
    from fenlei.inference.predictor import Predictor
    from fenlei.training.pipeline import train

    cfg = load_config(None, [f"data.train={tiny_zh['train']}", "model.name=fasttext", *FAST])
    predictor = Predictor(train(cfg, tmp_path / "run", quiet=True).run_dir)
    (e,) = predictor.explain(["今天足球比赛 NBA"])
    assert [t.token for t in e.tokens] == ["今", "天", "足", "球", "比", "赛", "NBA"]  # one latin run
    _assert_readable(e)


def test_bad_input_says_what_to_do(runs, monkeypatch):
    predictor = runs("fasttext")
    with pytest.raises(FenleiError, match="text 2 is empty"):
        predictor.explain(["good", "  "])
    with pytest.raises(FenleiError, match="not one of this run's labels: neg, pos|pos, neg"):
        predictor.explain(["good"], label="neutral")
    (one,) = predictor.explain(["superb"])  # a text of one token: it takes the whole gap
    assert len(one.tokens) == 1
    assert one.tokens[0].score == pytest.approx(one.logit - one.baseline_logit, abs=1e-3)
    monkeypatch.setattr(model_class("fasttext"), "explainer", None)
    with pytest.raises(FenleiError, match="model fasttext cannot be attributed"):
        predictor.explain(["good"])


def test_ngram_scores_are_spread_over_their_tokens():
    scores = torch.tensor([[3.0, 6.0, 0.0]])  # bigrams at 0 and 1 of a 3-token text
    out = spread_ngrams(scores, 2, 3)
    assert out.tolist() == [[1.5, 4.5, 3.0]]
    assert out.sum() == scores.sum()


def test_word_pieces_are_summed_into_words_and_chinese_pieces_split():
    from fenlei.data.hf_encoder import HFEncoder
    from fenlei.models.transformer import Transformer

    tok, _ = Transformer.encoder_source({"pretrained": "minilm-l6"})
    enc = HFEncoder(tok, 64)
    text = "An unbelievably GOOD film, isn't it?"
    spans, cut = enc.token_spans(text)
    assert len(spans) == len(enc.tokenize([text])[0]) and not cut
    scores = np.ones(len(spans))
    words = _readable(text, spans, scores, True)
    assert [w.token for w in words] == ["An", "unbelievably", "GOOD", "film", ",", "isn't", "it", "?"]
    assert next(w for w in words if w.token == "unbelievably").score == 5  # un ##bel ##ie ##va ##bly
    split = _readable("北京时间", [(-1, -1), (0, 4), (-1, -1)], np.array([0.0, 2.0, 0.0]), True)
    assert [(w.token, w.score) for w in split] == [("北", 0.5), ("京", 0.5), ("时", 0.5), ("间", 0.5)]
