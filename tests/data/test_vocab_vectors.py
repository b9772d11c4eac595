"""Vocabulary building and every pretrained-vector format."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from fenlei.data.vectors import align_vectors, extend_vocab, load_vectors
from fenlei.data.vocab import Vocab
from fenlei.errors import DataError

TENCENT = Path(__file__).resolve().parents[3] / "shared" / "data" / "thucnews" / "tencent_char_200d.vec"


def test_vocab_build_min_freq_max_size_and_roundtrip(tmp_path):
    docs = [["a", "b", "a"], ["c", "a", "b"], ["d"]]
    v = Vocab.build(docs)
    assert v.tokens == ["<pad>", "<unk>", "a", "b", "c", "d"]
    assert Vocab.build(docs, min_freq=2).tokens == ["<pad>", "<unk>", "a", "b"]
    assert Vocab.build(docs, max_size=3).tokens == ["<pad>", "<unk>", "a"]
    assert v.encode(["a", "zzz"]) == [2, 1]
    assert v.oov_rate([["a", "zzz"]]) == 0.5
    v.save(tmp_path / "vocab.json")
    assert Vocab.load(tmp_path / "vocab.json").tokens == v.tokens


def test_word2vec_text_glove_text_and_binary(tmp_path):
    words = ["film", "good", "bad"]
    mat = np.arange(9, dtype=np.float32).reshape(3, 3)
    lines = [f"{w} " + " ".join(str(x) for x in row) for w, row in zip(words, mat, strict=True)]
    (tmp_path / "w2v.txt").write_text("3 3\n" + "\n".join(lines) + "\n")
    (tmp_path / "glove.txt").write_text("\n".join(lines) + "\n")
    blob = b"3 3\n" + b"".join(
        w.encode() + b" " + struct.pack("<3f", *row) + b"\n" for w, row in zip(words, mat, strict=True)
    )
    (tmp_path / "w2v.bin").write_bytes(blob)
    for name in ("w2v.txt", "glove.txt", "w2v.bin"):
        v = load_vectors(str(tmp_path / name))
        assert v.words == words, name
        np.testing.assert_allclose(v.matrix, mat)
    kept = load_vectors(str(tmp_path / "glove.txt"), keep={"good"})
    assert kept.words == ["good"]


def test_align_with_oov_rate(tmp_path):
    (tmp_path / "v.txt").write_text("film 1 1\nGood 2 2\n")
    vocab = Vocab(["<pad>", "<unk>", "film", "good", "unseen"])
    matrix, oov = align_vectors(vocab, load_vectors(str(tmp_path / "v.txt")))
    assert matrix.shape == (5, 2)
    assert (matrix[0] == 0).all()
    np.testing.assert_allclose(matrix[2], [1, 1])
    assert oov == pytest.approx(2 / 3)  # "good" only matches "Good" by case: counted as missing


def test_extend_vocab_adds_unseen_vector_words_in_file_order(tmp_path):
    (tmp_path / "v.txt").write_text("the 1 1\nParis 2 2\nfilm 3 3\ngreat 4 4\nawful 5 5\n")
    vectors = load_vectors(str(tmp_path / "v.txt"))
    vocab = Vocab(["<pad>", "<unk>", "film", "the"])
    bigger, added = extend_vocab(vocab, vectors, 1, lowercase=True)
    assert (bigger.tokens, added) == (["<pad>", "<unk>", "film", "the", "great"], 1)
    bigger, added = extend_vocab(vocab, vectors, 10, lowercase=True)
    assert bigger.tokens[4:] == ["great", "awful"]  # "Paris" can never come out of a lowercasing tokenizer
    assert extend_vocab(vocab, vectors, 10, lowercase=False)[0].tokens[4:] == ["Paris", "great", "awful"]
    matrix, _ = align_vectors(bigger, vectors)
    np.testing.assert_allclose(matrix[5], [5, 5])


def test_bad_vector_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_vectors(str(tmp_path / "none.vec"))
    (tmp_path / "ragged.txt").write_text("a 1 2 3\nb 1 2\n")
    with pytest.raises(DataError, match="line 2"):
        load_vectors(str(tmp_path / "ragged.txt"))
    (tmp_path / "words.txt").write_text("hello world again\n")
    with pytest.raises(DataError, match="line 1"):
        load_vectors(str(tmp_path / "words.txt"))


def test_packaged_glove():
    v = load_vectors("glove-6b-50d", keep={"the", "film", "notaword123"})
    assert sorted(v.words) == ["film", "the"]
    assert v.matrix.shape == (2, 50)


@pytest.mark.skipif(not TENCENT.is_file(), reason="../shared/data is absent")
def test_tencent_char_vectors():
    v = load_vectors(str(TENCENT))
    assert v.matrix.shape == (4758, 200)
