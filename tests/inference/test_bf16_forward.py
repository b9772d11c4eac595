"""The bf16 inference path: TextCNN's one-GEMM forward against the fp32 model, and the backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.conftest import FAST, make_sentiment, write_tsv

from fenlei.config import load_config
from fenlei.inference import load
from fenlei.inference.bf16_forward import BF16_FORWARDS
from fenlei.models import create_model
from fenlei.training.pipeline import train


def _textcnn(**params):
    torch.manual_seed(0)
    base = {"filter_sizes": (1, 2, 4), "num_filters": 16, "dropout": 0.5}
    model = create_model("textcnn", 40, 3, params={**base, **params}, embed_dim=12, pad_id=0, embeddings=None)
    return model.eval()


def _batch(lengths: list[int], width: int | None = None) -> dict:
    """Padded random ids (pad 0) in the given (unsorted) lengths."""
    g = torch.Generator().manual_seed(1)
    width = width or max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(2, 40, (n,), generator=g)
    return {"input_ids": ids, "lengths": torch.tensor(lengths)}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"ngrams": 2, "ngram_buckets": 50},
        {"ngrams": 3, "ngram_buckets": 50, "static_copy": True},
        {"pooling": "max_mean", "max_norm": 0.5},
    ],
    ids=["plain", "bigrams", "trigrams-static", "max-mean-max-norm"],
)
def test_textcnn_bf16_forward_matches_the_fp32_model(params):
    model = _textcnn(**params)
    # lengths shorter than the widest filter (one window), equal lengths, and padding past the longest
    batch = _batch([1, 3, 9, 4, 9, 2, 17, 4], width=20)
    with torch.inference_mode():
        ref = model(batch)
        got = BF16_FORWARDS.get("textcnn")(model)(batch)
    assert got.dtype == torch.float32 and got.shape == ref.shape
    scale = float(ref.abs().max())
    assert float((got - ref).abs().max()) <= 0.02 * max(scale, 1e-3), (got, ref)


def _run(tmp_path, name: str, extra: list[str]):
    path = write_tsv(tmp_path / f"{name}.tsv", make_sentiment(160, 0))
    cfg = load_config(None, [f"data.train={path}", f"model.name={name}", "model.embed_dim=16", *FAST, *extra])
    return train(cfg, tmp_path / name, quiet=True).run_dir


TEXTS = ["the film was good", "awful", "", "a b c d e f g h i j k l", "quite charming and really moving"]


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("textcnn", ["model.filter_sizes=[2,3]", "model.num_filters=8", "model.ngrams=2"]),
        ("textrnn", ["model.hidden_size=8"]),  # no bf16 forward: its own, under autocast
    ],
)
def test_torch_bf16_backend_keeps_the_answers(tmp_path, name, extra):
    run = _run(tmp_path, name, extra)
    fast, ref = load(run, "torch-bf16"), load(run, "torch")
    assert fast.backend == "torch-bf16" and ref.backend == "torch"
    texts = TEXTS + [t for _, t in make_sentiment(200, 5)]
    a, b = fast.predict_proba(texts), ref.predict_proba(texts)
    assert np.abs(a - b).max() < 0.03
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.97


def test_auto_picks_bf16_only_where_the_cpu_multiplies_it(tmp_path, monkeypatch):
    import fenlei.inference.bf16_forward as bf16

    cnn = _run(tmp_path, "textcnn", ["model.filter_sizes=[2]", "model.num_filters=4"])
    rnn = _run(tmp_path, "textrnn", ["model.hidden_size=8"])
    monkeypatch.setattr(bf16, "native_bf16", lambda: True)
    assert load(cnn).backend == "torch-bf16"
    assert load(rnn).backend == "torch"  # no bf16 forward measured for it
    monkeypatch.setattr(bf16, "native_bf16", lambda: False)
    assert load(cnn).backend == "torch"
