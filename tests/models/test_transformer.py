"""The transformer family on a tiny random BERT (hidden 32, 2 layers) built here: no downloads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import make_sentiment, write_tsv
from fenlei.data.encoders import EncoderSettings
from fenlei.data.hf_encoder import HFEncoder
from fenlei.data.text import truncate
from fenlei.errors import ModelError
from fenlei.models import create_model
from fenlei.models.transformer import Transformer
from fenlei.training.optim import param_groups

# What the fine-tuning tutorials do, quietly: linear warmup/decay, progress and event files off.
SCHEDULE = ["optim.schedule=linear", "optim.warmup=0.1", "train.progress=false", "train.tensorboard=false"]


def train_cli(cli, run, settings: list[str]):
    """``fenlei train -o RUN --set ...`` with the transformer and SCHEDULE; returns the CLI result."""
    sets = ["model.name=transformer", *settings, *SCHEDULE]
    return cli("train", "-o", str(run), *[x for item in sets for x in ("--set", item)])


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    yield


def _fit(texts, pretrained, max_length, truncation="head"):
    """HFEncoder.fit as training calls it: the source comes from the model family."""
    source = Transformer.encoder_source({"pretrained": pretrained})
    return HFEncoder.fit(texts, EncoderSettings(None, max_length, truncation, source))


def test_truncation_strategies():
    seq = list(range(10))
    assert truncate(seq, 4, "head") == [0, 1, 2, 3]
    assert truncate(seq, 4, "tail") == [6, 7, 8, 9]
    assert truncate(seq, 5, "head+tail") == [0, 1, 2, 8, 9]
    assert truncate(seq, 20, "tail") == seq


def test_hf_encoder_keeps_special_tokens_and_respects_positions(tiny_bert):
    enc, ids = _fit(["good film", ""], tiny_bert, max_length=512, truncation="head+tail")
    assert enc.max_length == 64  # clamped to the model's position table
    cls, sep = enc.tokenizer.cls_token_id, enc.tokenizer.sep_token_id
    assert ids[0][0] == cls and ids[0][-1] == sep and len(ids[0]) == 4
    assert ids[1].tolist() == [cls, sep]  # an empty text still encodes
    long = " ".join(["good"] * 40 + ["bad"] * 40)
    (seq,) = enc.encode([long])
    words = enc.tokenizer.convert_ids_to_tokens(seq.tolist())
    assert len(seq) == 64 and words[0] == "[CLS]" and words[-1] == "[SEP]"
    assert words[1] == "good" and words[-2] == "bad"  # head and tail both kept


def test_tokenizer_without_pad_token_gets_one(tiny_bert):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    tok.pad_token = None
    enc = HFEncoder(tok, 32)
    assert enc.pad_id is not None and tok.pad_token is not None


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_model_shapes_no_nan_and_overfits(tiny_bert, pooling):
    torch.manual_seed(0)
    enc, ids = _fit([t for _, t in make_sentiment(16, 0)], tiny_bert, 64)
    labels = torch.tensor([0 if lab == "pos" else 1 for lab, _ in make_sentiment(16, 0)])
    model = create_model(
        "transformer", enc.vocab_size, 2, params={"pretrained": tiny_bert, "pooling": pooling}
    )
    from fenlei.data.batching import collate

    batch = collate(ids, enc.pad_id, labels.tolist())
    logits = model(batch)
    assert logits.shape == (16, 2) and torch.isfinite(logits).all()
    # Padding must not change a text's logits.
    model.eval()
    alone = model(collate(ids[:1], enc.pad_id))
    torch.testing.assert_close(alone[0], model(batch)[0], atol=1e-5, rtol=1e-4)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(batch), labels).backward()
        opt.step()
    assert (model(batch).argmax(-1) == labels).float().mean() == 1.0


def test_head_lr_multiplier_and_layer_decay(tiny_bert):
    model = create_model(
        "transformer", 40, 2, params={"pretrained": tiny_bert, "head_lr_mult": 10.0, "layer_decay": 0.5}
    )
    scales = {name: model.lr_scale(name) for name, _ in model.named_parameters()}
    assert scales["hf.classifier.weight"] == 10.0
    assert scales["hf.bert.pooler.dense.weight"] == 1.0
    assert scales["hf.bert.encoder.layer.1.output.dense.weight"] == 0.5
    assert scales["hf.bert.encoder.layer.0.output.dense.weight"] == 0.25
    assert scales["hf.bert.embeddings.word_embeddings.weight"] == 0.125
    groups = param_groups(model, 0.01, lr=1e-3)
    by_lr = {round(g["lr"], 8) for g in groups}
    assert by_lr == {1e-2, 1e-3, 5e-4, 2.5e-4, 1.25e-4}
    no_decay = [g for g in groups if g["weight_decay"] == 0.0]
    names = {id(p): n for n, p in model.named_parameters()}
    flat = [names[id(p)] for g in no_decay for p in g["params"]]
    assert "hf.bert.embeddings.LayerNorm.weight" in flat and all(
        n.endswith("bias") or "LayerNorm" in n or "embeddings" in n for n in flat
    )


def test_freeze_encoder_leaves_only_the_head(tiny_bert):
    model = create_model("transformer", 40, 2, params={"pretrained": tiny_bert, "freeze_encoder": True})
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["hf.classifier.weight", "hf.classifier.bias"]


def test_train_predict_and_the_hf_folder_agree(cli, tiny_bert, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    d = tmp_path
    train = write_tsv(d / "train.tsv", make_sentiment(96, 0))
    test = write_tsv(d / "test.tsv", make_sentiment(32, 2))
    run = d / "run"
    code, out, err = train_cli(
        cli,
        run,
        [
            f"data.train={train}",
            f"data.test={test}",
            f"model.pretrained={tiny_bert}",
            "model.head_lr_mult=5",
            "train.epochs=12",
            "train.lr=0.003",
            "train.batch_size=16",
            "train.grad_clip=1.0",
        ],
    )
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.8
    hf = run / "hf"
    config = json.loads((hf / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "pos"}
    texts = ["the film was superb", "a dull and tedious plot"]
    code, out, err = cli("predict", str(run), *texts)
    assert code == 0, err
    ours = [json.loads(line) for line in out.splitlines()]
    assert [r["label"] for r in ours] == ["pos", "neg"]
    # The exported folder opens with the Auto classes as it is and gives the same answer.
    tok = AutoTokenizer.from_pretrained(hf)
    model = AutoModelForSequenceClassification.from_pretrained(hf).eval()
    with torch.inference_mode():
        probs = torch.softmax(model(**tok(texts, padding=True, return_tensors="pt")).logits, -1).numpy()
    theirs = [r["probability"] for r in ours]
    np.testing.assert_allclose(probs.max(1), theirs, atol=1e-5)
    assert [model.config.id2label[i] for i in probs.argmax(1)] == ["pos", "neg"]


def test_unknown_pretrained_is_a_clear_error(cli, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    train = write_tsv(tmp_path / "train.tsv", make_sentiment(40, 0))
    code, _, err = cli(
        "train", "-o", str(tmp_path / "run"), "--set", f"data.train={train}",
        "--set", "model.name=transformer", "--set", "model.pretrained=nobody/no-such-model",
    )  # fmt: skip
    assert code == 2
    assert "nobody/no-such-model" in err and "Traceback" not in err
    with pytest.raises(ModelError, match="not a folder"):
        create_model("transformer", 10, 2, params={"pretrained": str(tmp_path / "missing")})


def test_vectors_and_init_are_refused(tiny_bert):
    with pytest.raises(ModelError, match="model.init"):
        create_model("transformer", 40, 2, params={"pretrained": tiny_bert}, init="xavier")


@pytest.mark.slow
def test_packaged_minilm_fine_tunes_and_exports(cli, tiny_data, tmp_path):
    from transformers import AutoModelForSequenceClassification

    run = tmp_path / "minilm"
    code, out, err = train_cli(
        cli,
        run,
        [
            f"data.train={tiny_data['train']}",
            f"data.dev={tiny_data['dev']}",
            f"data.test={tiny_data['test']}",
            "model.pretrained=minilm-l6",
            "data.max_length=32",
            "train.epochs=3",
            "train.lr=1e-4",
            "train.batch_size=16",
        ],
    )
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9
    assert metrics["data"]["tokenizer"] == "hf"
    model = AutoModelForSequenceClassification.from_pretrained(run / "hf")
    assert model.config.num_hidden_layers == 6 and model.config.id2label[1] == "pos"


@pytest.mark.parametrize(
    ("setting", "message"),
    [("tokenizer.kind=word", "tokenizer.kind"), ("model.vectors=glove-6b-50d", "model.vectors")],
)
def test_settings_a_transformer_cannot_use_are_errors(cli, tiny_bert, tmp_path, setting, message):
    train = write_tsv(tmp_path / "train.tsv", make_sentiment(40, 0))
    sets = [f"data.train={train}", "model.name=transformer", f"model.pretrained={tiny_bert}", setting]
    code, _, err = cli("train", "-o", str(tmp_path / "run"), *[x for s in sets for x in ("--set", s)])
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "metrics.json").exists()
