"""Long documents in overlapping windows for transformers (data.window, data.stride) and the
pooling of their logits (model.window_pooling): one prediction per document, the same in
training's evaluation, the Predictor and the ONNX path."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from conftest import FILL, NEG, POS, write_tsv
from fenlei.config import DataConfig
from fenlei.data.batching import Batches, batch_texts, collate, repeat_batch
from fenlei.data.encoders import EncoderSettings
from fenlei.data.hf_encoder import HFEncoder
from fenlei.data.windows import Windows, split_windows, token_count
from fenlei.errors import ConfigError
from fenlei.models.transformer import Transformer
from fenlei.models.window_pooling import pool_windows


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    yield


def test_a_long_body_becomes_overlapping_windows_that_cover_it():
    body = list(range(100, 123))  # 23 tokens; windows of 8 = [CLS] + 6 + [SEP]
    w = split_windows([1], body, [2], 8, 4)
    assert isinstance(w, Windows) and len(w) == 5
    assert all(len(x) == 8 and x[0] == 1 and x[-1] == 2 for x in w)
    inner = [x[1:-1].tolist() for x in w]
    assert [x[0] for x in inner] == [100, 104, 108, 112, 117]  # stride 4; the last ends at the end
    assert inner[-1][-1] == body[-1]
    assert sorted({t for x in inner for t in x}) == body  # nothing skipped
    assert token_count(w) == 40
    short = split_windows([1], body[:6], [2], 8, 4)
    assert isinstance(short, np.ndarray) and short.tolist() == [1, *body[:6], 2]


def test_collate_flattens_windows_and_counts_them():
    doc = split_windows([1], list(range(10, 30)), [2], 8, 6)  # 4 windows
    batch = collate([np.array([1, 5, 2]), doc], 0, [0, 1])
    assert batch["windows"].tolist() == [1, 4]
    assert batch["input_ids"].shape == (5, 8) and batch["labels"].tolist() == [0, 1]
    assert batch_texts(batch) == 2
    twice = repeat_batch(batch, 2)  # R-Drop: rows and texts both doubled, in order
    assert twice["input_ids"].shape[0] == 10 and twice["windows"].tolist() == [1, 4, 1, 4]
    assert twice["labels"].tolist() == [0, 1, 0, 1]
    assert "windows" not in collate([np.array([1, 2]), np.array([1, 3, 2])], 0)


def test_windowed_batches_hold_batch_size_rows():
    docs = [split_windows([1], list(range(n)), [2], 6, 4) for n in (3, 10, 20, 3, 40, 8)]
    rows = [len(d) if isinstance(d, Windows) else 1 for d in docs]
    for shuffle in (False, True):
        b = Batches(docs, [0] * len(docs), 4, 0, shuffle=shuffle, seed=1)
        order = b.order()
        assert sorted(int(i) for o in order for i in o) == list(range(len(docs)))
        for o in order:  # at most 4 rows, unless one document alone has more
            assert sum(rows[i] for i in o) <= 4 or len(o) == 1
        assert len(b) == len(order)


@pytest.mark.parametrize("how", ["mean", "max", "attention"])
def test_pooling_is_one_row_per_document_and_ignores_window_order(how):
    torch.manual_seed(0)
    logits, scores = torch.randn(7, 3), torch.randn(7)
    windows = torch.tensor([3, 1, 3])
    pooled = pool_windows(logits, windows, how, scores)
    assert pooled.shape == (3, 3)
    perm = torch.tensor([2, 0, 1, 3, 6, 4, 5])  # windows shuffled inside each document
    assert torch.allclose(pool_windows(logits[perm], windows, how, scores[perm]), pooled, atol=1e-6)
    assert torch.allclose(pooled[1], logits[3])  # a one-window document is its window
    if how == "mean":
        assert torch.allclose(pooled[0], logits[:3].mean(0))
    if how == "max":
        assert torch.allclose(pooled[2], logits[4:].amax(0))
    if how == "attention":  # equal scores weigh equally
        assert torch.allclose(
            pool_windows(logits, windows, how, torch.zeros(7)), pool_windows(logits, windows, "mean")
        )


def test_window_settings_are_checked_against_each_other_and_the_positions(tiny_bert):
    with pytest.raises(ConfigError, match="data.window 8 is smaller than data.stride 12"):
        DataConfig(window=8, stride=12)
    with pytest.raises(ConfigError, match="set data.window too"):
        DataConfig(stride=12)
    source = Transformer.encoder_source({"pretrained": tiny_bert})
    with pytest.raises(ConfigError, match="data.window 100 is longer than the model's 64 positions"):
        HFEncoder.fit(["good"], EncoderSettings(None, "auto", "head", source, window=100))


def test_window_on_a_classic_family_is_a_config_error(cli, tiny_data, tmp_path):
    code, _, err = cli(
        "train", "-o", str(tmp_path / "r"), "--set", f"data.train={tiny_data['train']}",
        "--set", "model.name=textcnn", "--set", "data.window=64",
    )  # fmt: skip
    assert code != 0 and "data.window splits long texts for transformer families" in err


def _long_reviews(n: int, seed: int) -> list[tuple[str, str]]:
    """Twenty filler words with the one sentiment word anywhere: a 12-token head misses half."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.choices(FILL, k=20)
        words.insert(rng.randint(0, 20), rng.choice(POS if label == "pos" else NEG))
        rows.append((label, " ".join(words)))
    return rows


@pytest.fixture(scope="module")
def windowed_run(tmp_path_factory, tiny_bert):
    """Train and test files of 21-word texts."""
    d = tmp_path_factory.mktemp("windowed")
    train = write_tsv(d / "train.tsv", _long_reviews(160, 0))
    test = write_tsv(d / "test.tsv", _long_reviews(40, 1))
    return d, train, test


def _train(cli, run, train, test, tiny_bert, *extra):
    sets = [
        "model.name=transformer", f"model.pretrained={tiny_bert}", f"data.train={train}", f"data.test={test}",
        "train.epochs=10", "train.lr=0.003", "train.batch_size=32", "model.head_lr_mult=5",
        "train.grad_clip=1.0", "train.precision=fp32", "train.progress=false", "train.tensorboard=false",
        "optim.schedule=linear", "optim.warmup=0.1", *extra,
    ]  # fmt: skip
    code, out, err = cli("train", "-o", str(run), *[x for s in sets for x in ("--set", s)])
    assert code == 0, err
    return json.loads((run / "metrics.json").read_text()), err


def test_windows_train_evaluate_predict_and_export_as_one(cli, windowed_run, tiny_bert):
    from fenlei.inference.onnx_export import export_onnx
    from fenlei.inference.onnx_predictor import OnnxPredictor
    from fenlei.inference.predictor import Predictor
    from fenlei.rundir import RunDir

    d, train, test = windowed_run
    run = d / "win"
    metrics, err = _train(cli, run, train, test, tiny_bert, "data.window=12", "data.stride=6")
    assert "windows of 12 every 6 tokens (mean of their logits)" in err
    saved = json.loads((run / "tokenizer.json").read_text())
    assert saved["window"] == 12 and saved["stride"] == 6
    predictor = Predictor(run)
    texts = [t for _, t in _long_reviews(40, 1)]
    assert all(isinstance(x, Windows) for x in predictor.encoder.encode(texts))  # every text in windows
    probs = predictor.predict_proba(texts)
    assert probs.shape == (40, 2)  # one prediction per document
    rd = RunDir(run)
    pred = rd.read_predictions(predictor.task, predictor.label_names)
    order = {t: i for i, t in enumerate(texts)}
    trained = np.stack([pred.probs[i] for i in np.argsort([order[t] for t in pred.texts])])
    np.testing.assert_allclose(probs, trained, atol=1e-4)  # training's evaluation = the Predictor's
    head, _ = _train(cli, d / "head", train, test, tiny_bert, "data.max_length=12")
    assert metrics["test"]["accuracy"] >= head["test"]["accuracy"] + 0.1, (metrics["test"], head["test"])
    meta = export_onnx(run)
    assert meta["inputs"] == ["input_ids", "lengths", "windows"]
    assert meta["parity"]["fp32"]["max_abs_diff"] < 1e-4
    some = texts[:7] + ["good"]
    onnx = OnnxPredictor(run, quantized=False, batch_size=5)
    np.testing.assert_allclose(onnx.predict_proba(some), predictor.predict_proba(some), atol=1e-4)
    # the server answers one result per document, from either backend
    from fastapi.testclient import TestClient

    from fenlei.serving.app import create_app, load_predictors

    for backend in ("torch", "onnx-fp32"):
        with TestClient(create_app(load_predictors([str(run)], backend))) as client:
            results = client.post("/predict", json={"texts": some}).json()["results"]
        got = [r["probability"] for r in results]
        np.testing.assert_allclose(got, predictor.predict_proba(some).max(1), atol=1e-4)


def test_attention_pooling_trains_and_reloads(cli, windowed_run, tiny_bert):
    from fenlei.inference.predictor import Predictor

    d, train, test = windowed_run
    run = d / "attention"
    metrics, _ = _train(
        cli, run, train, test, tiny_bert, "data.window=12", "model.window_pooling=attention", "train.epochs=3"
    )
    predictor = Predictor(run)
    assert "window_scorer.weight" in dict(predictor.model.named_parameters())
    assert predictor.predict_proba(["good " * 30, "bad"]).shape == (2, 2)
