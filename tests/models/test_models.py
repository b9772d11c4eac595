"""Every registered model gets the same checks (timm style), with its own tiny params, on CPU.

A new family registers itself and declares ``tiny_params``; it needs no line here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from fenlei.config import OptimConfig
from fenlei.data.encoders import encoder_class
from fenlei.errors import ModelError
from fenlei.models import create_model, list_models, make_params, model_class
from fenlei.training.optim import build_optimizer

NAMES = list_models()
VOCAB, CLASSES, PAD = 100, 3, 0
WORKDIR = Path(tempfile.mkdtemp(prefix="fenlei-tiny-models-"))  # tiny pretrained checkpoints


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    yield


def tiny(name: str) -> dict:
    return model_class(name).tiny_params(WORKDIR)


def with_vectors(names):
    """The families whose embedding table model.vectors fills (not a pretrained encoder's own)."""
    return [n for n in names if model_class(n).takes_vectors]


def make(name: str, **kw):
    torch.manual_seed(0)
    kw.setdefault("params", tiny(name))
    kw.setdefault("embed_dim", 16)
    return create_model(name, VOCAB, CLASSES, **kw)


def make_batch(lengths: list[int], seed: int = 0, extra_pad: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = max(lengths) + extra_pad
    ids = torch.full((len(lengths), t), PAD, dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(1, VOCAB, (n,), generator=g)
    return {"input_ids": ids, "lengths": torch.tensor(lengths)}


@pytest.mark.parametrize("name", NAMES)
def test_a_family_declares_what_the_pipeline_asks(name):
    cls = model_class(name)
    assert cls.tokenizer_kinds and encoder_class(cls.encoder_type)
    assert make_params(name, tiny(name)) is not None
    assert cls.eval_batch_size > 0


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_variable_lengths(name):
    model = make(name)
    for lengths in ([7, 1, 3, 12], [1], [5], [1, 1], [2, 40]):
        model.train()
        logits = model(make_batch(lengths))
        assert logits.shape == (len(lengths), CLASSES)
        assert torch.isfinite(logits).all()
        logits.sum().backward()
        model.eval()
        assert torch.isfinite(model(make_batch(lengths))).all()


def _assert_padding_invariant(model):
    model.eval()
    with torch.no_grad():
        for lengths in ([7, 1, 3, 12], [1], [3, 2], [17, 9, 4]):
            short = model(make_batch(lengths))
            for extra in (1, 5, 20):
                padded = model(make_batch(lengths, extra_pad=extra))
                torch.testing.assert_close(padded, short, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_extra_padding_does_not_change_logits(name):
    _assert_padding_invariant(make(name))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("fasttext", {"ngrams": 1}),
        ("fasttext", {"ngrams": 3, "buckets": 500, "hidden": 8}),
        ("textcnn", {"filter_sizes": [1, 5], "num_filters": 4}),
        ("textcnn", {"filter_sizes": [2, 3], "num_filters": 4, "ngrams": 2, "ngram_buckets": 64}),
        (
            "textcnn",
            {"num_filters": 4, "ngrams": 3, "ngram_buckets": 64, "ngram_dim": 6, "pooling": "max_mean"},
        ),
        ("textcnn", {"num_filters": 4, "max_norm": 0.5, "word_dropout": 0.3}),
        ("textrnn", {"cell": "gru", "hidden_size": 8, "num_layers": 2, "pooling": "max"}),
        ("textrnn", {"hidden_size": 8, "bidirectional": False, "pooling": "mean"}),
        ("textrnn", {"hidden_size": 8, "bidirectional": False, "num_layers": 2}),
        ("textrnn_att", {"cell": "gru", "hidden_size": 8, "bidirectional": False, "attention_size": 4}),
        ("textrcnn", {"hidden_size": 8, "num_layers": 2}),
    ],
)
def test_variants(name, params):
    model = make(name, params=params)
    assert model(make_batch([4, 1, 9])).shape == (3, CLASSES)
    _assert_padding_invariant(model)


@pytest.mark.parametrize("name", NAMES)
def test_overfits_a_handful_of_examples(name):
    model = make(name)
    batch = make_batch(
        [int(n) for n in torch.randint(1, 12, (16,), generator=torch.Generator().manual_seed(1))]
    )
    labels = torch.randint(0, CLASSES, (16,), generator=torch.Generator().manual_seed(2))
    opt = build_optimizer(model, OptimConfig(name="adam"), 1e-2)  # sparse tables get lazy Adam
    for _ in range(200):
        model.train()
        loss = torch.nn.functional.cross_entropy(model(batch), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.1:
            break
    model.eval()
    with torch.no_grad():
        acc = (model(batch).argmax(-1) == labels).float().mean().item()
    assert loss.item() < 0.1 or acc == 1.0, (loss.item(), acc)


@pytest.mark.parametrize("name", with_vectors(NAMES))
def test_pretrained_embeddings_are_copied_and_frozen(name):
    vectors = np.random.default_rng(0).normal(size=(VOCAB, 12)).astype(np.float32)
    model = make(name, embeddings=vectors, freeze_embeddings=True)  # embed_dim=16 is overridden
    expected = torch.from_numpy(vectors).clone()
    expected[PAD] = 0
    assert torch.equal(model.embedding.weight, expected)
    assert not model.embedding.weight.requires_grad
    opt = build_optimizer(model, OptimConfig(name="adam"), 1e-2)
    model.train()
    loss = model(make_batch([5, 2, 8])).sum()
    loss.backward()
    opt.step()
    assert torch.equal(model.embedding.weight, expected)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scheme", ["xavier", "kaiming", "normal"])
def test_init_schemes_leave_embeddings_alone(name, scheme):
    cls = model_class(name)
    if cls.pretrained_weights or cls.closed_form:  # its weights come from a checkpoint or a fit
        with pytest.raises(ModelError, match="model.init"):
            make(name, init=scheme)
        return
    base, model = make(name), make(name, init=scheme)
    embeddings = (torch.nn.Embedding, torch.nn.EmbeddingBag)
    changed = False
    for (key, a), b in zip(base.named_modules(), model.modules(), strict=True):
        if isinstance(a, embeddings):
            assert torch.equal(a.weight, b.weight), key
        elif isinstance(a, torch.nn.Linear):
            changed |= not torch.equal(a.weight, b.weight)
    assert changed
    model.eval()
    assert torch.isfinite(model(make_batch([3, 1]))).all()


def test_unknown_model_lists_known_ones():
    with pytest.raises(ModelError) as err:
        create_model("bert-huge", VOCAB, CLASSES)
    assert all(name in str(err.value) for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_param_names_the_key(name):
    with pytest.raises(ModelError, match="model.bogus"):
        make(name, params={"bogus": 1})


@pytest.mark.parametrize(
    ("name", "params", "key"),
    [
        ("fasttext", {"buckets": 0}, "model.buckets"),
        ("fasttext", {"ngrams": 4}, "model.ngrams"),
        ("fasttext", {"hidden": -1}, "model.hidden"),
        ("textcnn", {"num_filters": 0}, "model.num_filters"),
        ("textcnn", {"filter_sizes": []}, "model.filter_sizes"),
        ("textcnn", {"filter_sizes": [3, 0]}, "model.filter_sizes"),
        ("textcnn", {"dropout": 1.5}, "model.dropout"),
        ("textcnn", {"ngrams": 4}, "model.ngrams"),
        ("textcnn", {"pooling": "sum"}, "model.pooling"),
        ("textcnn", {"word_dropout": 1.0}, "model.word_dropout"),
        ("textcnn", {"max_norm": -1}, "model.max_norm"),
        ("textrnn", {"cell": "transformer"}, "model.cell"),
        ("textrnn", {"pooling": "sum"}, "model.pooling"),
        ("textrnn", {"hidden_size": "big"}, "model.hidden_size"),
        ("textrnn_att", {"attention_size": 0}, "model.attention_size"),
        ("textrcnn", {"num_layers": 0}, "model.num_layers"),
        ("dpcnn", {"num_filters": 0}, "model.num_filters"),
    ],
)
def test_bad_param_value_names_the_key(name, params, key):
    with pytest.raises(ModelError, match=key):
        make(name, params=params)


def test_filter_sizes_from_yaml_list_become_a_tuple():
    assert make_params("textcnn", {"filter_sizes": [2, 3]}).filter_sizes == (2, 3)


def test_fasttext_ngram_ids_skip_padding():
    model = make("fasttext", params={"ngrams": 3, "buckets": 50})
    batch = make_batch([4, 1, 2], extra_pad=2)
    ids = model.ngram_ids(batch["input_ids"], batch["lengths"])
    real = (ids != 50).sum(dim=1).tolist()
    assert real == [3 + 2, 0, 1]  # bigrams + trigrams inside each text
    assert int(ids.max()) <= 50


def test_textcnn_static_copy_stays_fixed_while_the_other_channel_learns():
    vectors = np.random.default_rng(0).normal(size=(VOCAB, 16)).astype(np.float32)
    model = make("textcnn", params=tiny("textcnn") | {"static_copy": True}, embeddings=vectors)
    assert model.convs[0].in_channels == 32
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    batch = make_batch([5, 3]) | {"labels": torch.tensor([0, 1])}
    torch.nn.functional.cross_entropy(model(batch), batch["labels"]).backward()
    opt.step()
    used = batch["input_ids"][0, :5]
    assert not torch.allclose(model.embedding.weight[used], torch.as_tensor(vectors)[used])
    torch.testing.assert_close(model.static.weight[1:], torch.as_tensor(vectors)[1:])


def test_textcnn_ngram_ids_point_past_the_text_at_the_padding_row():
    model = make("textcnn", params=tiny("textcnn") | {"ngrams": 3, "ngram_buckets": 50})
    batch = make_batch([4, 1, 2], extra_pad=2)
    ids = model.ngram_ids(batch["input_ids"], batch["lengths"])  # [B, 2, T]
    assert ids.shape == (3, 2, batch["input_ids"].shape[1])
    assert (ids != 50).sum(dim=(1, 2)).tolist() == [3 + 2, 0, 1]
    assert model.ngram_embedding.weight[50].abs().sum() == 0  # the padding row adds nothing


def test_textcnn_word_dropout_only_while_training():
    model = make("textcnn", params=tiny("textcnn") | {"word_dropout": 0.5, "dropout": 0.0})
    batch = make_batch([9, 7])
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(batch), model(batch))
        model.train()
        torch.manual_seed(0)
        first = model(batch)
        assert not torch.allclose(first, model(batch))


def test_textcnn_max_norm_caps_output_rows():
    model = make("textcnn", params=tiny("textcnn") | {"max_norm": 0.1, "dropout": 0.0}).eval()
    seen = {}
    model.dropout.register_forward_hook(lambda mod, inp, out: seen.update(features=out))
    with torch.no_grad():
        model.fc.weight.mul_(100.0)  # rows far above the cap
        logits = model(make_batch([4, 6]))
        w = model.fc.weight
        capped = w * (0.1 / w.norm(dim=1, keepdim=True))
        expected = torch.nn.functional.linear(seen["features"], capped, model.fc.bias)
    torch.testing.assert_close(logits, expected)


def test_fasttext_without_bias_starts_its_output_at_zero():
    model = make("fasttext", params=tiny("fasttext") | {"bias": False, "sparse": True})
    assert model.classifier.bias is None and not model.classifier.weight.any()
    assert model.embedding.sparse and model.ngram_bag.sparse
    logits = model(make_batch([3, 5]))
    assert torch.equal(logits, torch.zeros_like(logits))  # uniform until the first step
