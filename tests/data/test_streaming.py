"""Streaming corpora: the same vocabulary, labels, ids and dev split as in memory; batches.

The corpus builder reads the readers' own rows (Rows), so a broken train file gets the readers'
error. Broken inputs are cases of the bad-input corpus (tests/bad_inputs/), whose reader test
(tests/test_bad_inputs.py::test_readers) consumes open_rows row by row as the builder does, at
every block size; add new ones there, not here.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fenlei.config import Config, DataConfig
from fenlei.data import streaming_store
from fenlei.data.batching import Batches
from fenlei.data.encoders import EncoderSettings
from fenlei.data.loading import load_splits
from fenlei.data.readers import ReadOptions, Rows, decoding, read_examples
from fenlei.data.streaming import prepare_streaming, use_streaming
from fenlei.data.vocab_encoder import VocabEncoder
from fenlei.errors import ConfigError, DataError, FenleiError
from fenlei.resolve import resolve

WORDS = ["the", "film", "story", "plot", "café", "naïve", "don't", "well-made", "2024", "!", "?", "Good"]
WORDS += [f"{a}{b}" for a in "bdfgklmnprst" for b in ("a", "ei", "ou", "ing")]


@pytest.fixture(autouse=True)
def small_buffers(monkeypatch):
    """Blocks and flushes far smaller than the rows, so every boundary is crossed."""
    monkeypatch.setattr(decoding, "BLOCK", 97)
    monkeypatch.setattr(streaming_store, "FLUSH_TOKENS", 50)


def make_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """(label, text) rows: Zipf-ish words (ties in the counts), unbalanced classes, a few blank texts."""
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(len(WORDS))]
    rows = []
    for i in range(n):
        label = rng.choices(["pos", "neg", "meh"], [5, 3, 1])[0] if i > 1 else "rare"
        text = " ".join(rng.choices(WORDS, weights, k=rng.randint(1, 30)))
        rows.append((label, "   " if i % 41 == 40 else text))
    return rows


def write_table(path: Path, rows, kind: str) -> str:
    """rows as tsv (with/without header, CRLF + BOM), csv (quoted commas/newlines), jsonl or tsv.gz."""
    if kind == "jsonl":
        text = "".join(
            json.dumps({"id": i, "text": t, "label": lab}) + "\n" for i, (lab, t) in enumerate(rows)
        )
    elif kind == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows([(t.replace("the", "the,\nthe", 1), lab) for lab, t in rows])
        text = buf.getvalue()
    elif kind == "headerless":
        text = "".join(f"{lab}\t{t}\n" for lab, t in rows)
    else:
        text = "id\ttext\tlabel\n" + "".join(f"{i}\t{t}\t{lab}\n" for i, (lab, t) in enumerate(rows))
    if kind == "crlf":
        path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    elif kind == "gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def config(tmp_path, train: str, **data) -> Config:
    tok = data.pop("tokenizer", {})
    raw = {
        "data": {"train": train, "streaming": True, **data},
        "model": {"name": "fasttext"},
        "tokenizer": tok,
        "train": {"batch_size": 64},  # what resolve gives a streamed run's batch_size: auto
    }
    return Config.from_dict(raw)


def in_memory(cfg: Config):
    splits = load_splits(cfg.data)
    settings = EncoderSettings(cfg.tokenizer, cfg.data.max_length, cfg.data.truncation)
    encoder, tokens = VocabEncoder.fit(splits.train.texts, settings)
    return splits, encoder, encoder.encode(tokens=tokens)


def assert_same(sd, cfg: Config) -> None:
    splits, encoder, ids = in_memory(cfg)
    assert sd.encoder.kind == encoder.kind
    assert sd.encoder.vocab.tokens == encoder.vocab.tokens
    assert sd.splits.labels == splits.labels
    assert sd.splits.notes == splits.notes
    assert len(sd.splits.train) == len(splits.train) == len(sd.batches.seqs)
    assert sd.splits.train.skipped == splits.train.skipped
    assert sd.splits.train_ids.tolist() == splits.train_ids
    assert (sd.splits.dev.texts, sd.splits.dev.labels) == (splits.dev.texts, splits.dev.labels)
    assert sd.splits.dev_ids == splits.dev_ids
    for i, row in enumerate(sd.batches.seqs):
        assert row.tolist() == ids[i].tolist(), i
    assert sd.batches.labels.tolist() == splits.train_ids


@pytest.mark.parametrize("kind", ["tsv", "crlf", "headerless", "csv", "jsonl", "gz"])
def test_same_as_in_memory(tmp_path, kind):
    suffix = {"csv": ".csv", "jsonl": ".jsonl", "gz": ".tsv.gz"}.get(kind, ".tsv")
    train = write_table(tmp_path / f"train{suffix}", make_rows(300), kind)
    cfg = config(
        tmp_path, train, max_length=12, truncation="head+tail", tokenizer={"min_freq": 2, "max_size": 30}
    )
    assert_same(prepare_streaming(cfg, tmp_path / "run"), cfg)


def test_same_as_in_memory_past_the_language_sample(tmp_path):
    """More than the 500 texts that resolve tokenizer.kind auto; Chinese, so auto picks char."""
    rng = random.Random(3)
    rows = [
        (str(i % 3), "".join(rng.choices("足球比赛股票银行游戏玩家NBA2024", k=rng.randint(1, 20))))
        for i in range(700)
    ]
    train = write_table(tmp_path / "train.tsv", rows, "tsv")
    dev = write_table(tmp_path / "dev.tsv", rows[:50], "tsv")
    test = write_table(tmp_path / "test.tsv", rows[50:90] + [("7", "unseen label")], "tsv")
    cfg = config(tmp_path, train, dev=dev, test=test, unseen_labels="skip")
    sd = prepare_streaming(cfg, tmp_path / "run")
    assert_same(sd, cfg)
    assert sd.encoder.kind == "char" and sd.splits.notes == {"test_unseen_label": 1}
    assert len(sd.splits.test) == 40 and len(sd.splits.train) == 700


def test_encoder_saves_for_the_predictor(tmp_path):
    cfg = config(tmp_path, write_table(tmp_path / "train.tsv", make_rows(120), "tsv"))
    sd = prepare_streaming(cfg, tmp_path / "run")
    sd.encoder.save(tmp_path)
    loaded = VocabEncoder.load(tmp_path)
    texts = ["The film was café!", "unknown zzz words"]
    assert [a.tolist() for a in loaded.encode(texts)] == [a.tolist() for a in sd.encoder.encode(texts)]


def test_dev_split_is_stratified_and_disjoint(tmp_path):
    rows = [(lab, f"text {i}") for i, lab in enumerate(["a"] * 600 + ["b"] * 300 + ["c"] * 100)]
    random.Random(0).shuffle(rows)
    cfg = config(tmp_path, write_table(tmp_path / "train.tsv", rows, "tsv"), dev_ratio=0.2)
    sd = prepare_streaming(cfg, tmp_path / "run")
    dev_counts = Counter(sd.splits.dev.labels)
    assert dev_counts == {"a": 120, "b": 60, "c": 20}
    train_texts = {" ".join(sd.encoder.vocab.tokens[i] for i in row) for row in sd.batches.seqs}
    assert not train_texts & set(sd.splits.dev.texts)
    assert len(train_texts) + len(sd.splits.dev) == len(rows)


def test_batches_cover_every_row_once_and_repeat_per_seed(tmp_path):
    cfg = config(tmp_path, write_table(tmp_path / "train.tsv", make_rows(500), "tsv"))
    cfg.train.batch_size = 8
    sd = prepare_streaming(cfg, tmp_path / "run")
    b = sd.batches
    n = len(b.seqs)
    orders = []
    for epoch in (0, 1):
        b.set_epoch(epoch)
        order = b.order()
        assert len(order) == len(b) == -(-n // 8)
        assert np.array_equal(np.sort(np.concatenate(order)), np.arange(n))
        orders.append(np.concatenate(order))
    assert not np.array_equal(*orders)
    again = prepare_streaming(cfg, tmp_path / "run").batches
    again.set_epoch(1)
    assert np.array_equal(np.concatenate(again.order()), orders[1])
    # the same order and batch dicts as Batches over the rows in memory
    ref = Batches(
        [np.array(r, dtype=np.int64) for r in b.seqs], b.labels, 8, 0, shuffle=True, seed=cfg.train.seed
    )
    ref.set_epoch(1)
    assert all(np.array_equal(x, y) for x, y in zip(ref.order(), again.order(), strict=True))
    first = next(iter(again))
    expected = ref.batch(again.order()[0])
    assert all(first[k].tolist() == expected[k].tolist() for k in expected)
    assert len(list(again)) == len(again)


def test_release_keeps_rows_readable(tmp_path):
    cfg = config(tmp_path, write_table(tmp_path / "train.tsv", make_rows(100), "tsv"))
    b = prepare_streaming(cfg, tmp_path / "run").batches
    b.release_rows = 1
    before = [r.tolist() for r in b.seqs]
    for _ in b:
        pass
    assert [r.tolist() for r in b.seqs] == before


def test_corpus_is_reused_until_the_file_or_settings_change(tmp_path, monkeypatch):
    train = tmp_path / "train.tsv"
    cfg = config(tmp_path, write_table(train, make_rows(100), "tsv"))
    run = tmp_path / "run"
    prepare_streaming(cfg, run)
    tokens = run / "corpus" / "tokens.bin"
    built = tokens.stat().st_mtime_ns
    prepare_streaming(cfg, run, resume=True)
    assert tokens.stat().st_mtime_ns == built  # reused
    cfg.tokenizer.min_freq = 2
    with pytest.raises(DataError, match="changed since this run started"):
        prepare_streaming(cfg, run, resume=True)
    sd = prepare_streaming(cfg, run)  # a new run into the same folder rebuilds
    assert sd.splits.labels.names == ["meh", "neg", "pos", "rare"]
    os.utime(train, ns=(built, built + 10**9))
    (run / "metrics.json").write_text("{}")
    with pytest.raises(FenleiError, match="already holds a run"):
        prepare_streaming(cfg, run)
    assert not list(tmp_path.glob("run/corpus.partial*"))


def test_other_ranks_wait_and_load(tmp_path):
    cfg = config(tmp_path, write_table(tmp_path / "train.tsv", make_rows(80), "tsv"))
    with pytest.raises(DataError, match="no finished corpus"):
        prepare_streaming(cfg, tmp_path / "run", writer=False)
    met = []
    prepare_streaming(cfg, tmp_path / "run", writer=True, barrier=lambda: met.append("writer"))
    sd = prepare_streaming(cfg, tmp_path / "run", writer=False, barrier=lambda: met.append("other"))
    assert met == ["writer", "other"] and len(sd.batches.seqs) > 0


def test_auto_streams_big_column_files_only(tmp_path):
    small = write_table(tmp_path / "small.tsv", make_rows(20), "tsv")
    big = tmp_path / "big.tsv"
    big.write_text("label\ttext\n" + "pos\tgood film\n" * 80_000)  # 1.1 MB
    assert not use_streaming(DataConfig(train=small, streaming_threshold_mb=1))
    assert use_streaming(DataConfig(train=str(big), streaming_threshold_mb=1))
    assert not use_streaming(DataConfig(train=str(big), streaming_threshold_mb=2))
    assert use_streaming(DataConfig(train=small, streaming=True))
    assert not use_streaming(DataConfig(train=str(big), streaming=False, streaming_threshold_mb=1))
    array = tmp_path / "big.json"
    array.write_text("[" + ",".join(['{"text": "good", "label": "pos"}'] * 40_000) + "]")
    assert not use_streaming(DataConfig(train=str(array), streaming_threshold_mb=1))
    utf16 = tmp_path / "utf16.tsv"
    utf16.write_bytes(big.read_text().encode("utf-16"))
    assert not use_streaming(DataConfig(train=str(utf16), streaming_threshold_mb=1))


@pytest.mark.parametrize(
    "data, match",
    [
        ({"streaming": "maybe"}, "data.streaming must be true, false or auto"),
        ({"streaming_threshold_mb": 0}, "data.streaming_threshold_mb must be > 0"),
        ({"streaming": True, "multi_label": True}, "data.multi_label"),
        ({"streaming": True, "labeled_per_class": 5}, "data.labeled_per_class"),
        ({"streaming": True, "format": "thucnews"}, "data.format thucnews"),
    ],
)
def test_bad_data_settings(data, match):
    with pytest.raises(ConfigError, match=match) as info:
        resolve(Config.from_dict({"data": {"train": "x.tsv", **data}}))
    assert "data.streaming" in str(info.value)


@pytest.mark.parametrize(
    "setting, match",
    [
        (("augment", "copies", 1), "augment.copies"),
        (("objective", "name", "uda"), "objective.name uda"),
        (("model", "name", "transformer"), "Hugging Face tokenizer"),
        (("model", "extend_vocab", 100), "model.extend_vocab"),
    ],
)
def test_settings_that_need_memory_are_refused(tmp_path, setting, match):
    cfg = config(tmp_path, write_table(tmp_path / "train.tsv", make_rows(20), "tsv"))
    section, key, value = setting
    setattr(getattr(cfg, section), key, value)
    with pytest.raises(ConfigError, match=match) as info:
        resolve(cfg)  # the run refuses before anything is read or written
    assert "set data.streaming: false" in str(info.value)
    assert not (tmp_path / "run").exists()


def test_a_layout_format_is_refused(tmp_path):
    cola = tmp_path / "in_domain_train.tsv"
    cola.write_text("".join(f"src\t{i % 2}\t\tsentence {i}\n" for i in range(10)))
    with pytest.raises(ConfigError, match="reads as cola"):
        prepare_streaming(config(tmp_path, str(cola)), tmp_path / "run")


def test_csv_stray_quotes_read_leniently_as_in_memory(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('text,label\n"hi" there,pos\nfine "quoted" words,neg\n"a, b",pos\n')
    ex = read_examples(path, format="csv")
    rows = [(text, label) for _, text, label in Rows(path, "csv", ReadOptions())]
    assert rows == list(zip(ex.texts, ex.labels, strict=True))
    assert rows == [("hi there", "pos"), ('fine "quoted" words', "neg"), ("a, b", "pos")]


def test_json_arrays_and_utf16_stream_too(tmp_path):
    """What the second reader refused: one reader path reads them, row by row (an array whole)."""
    array = tmp_path / "a.json"
    array.write_text('[{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}]\n')
    utf16 = tmp_path / "a.tsv"
    utf16.write_bytes("label\ttext\npos\tgood\nneg\tbad\n".encode("utf-16"))
    for path, fmt in ((array, "jsonl"), (utf16, "tsv")):
        assert [row[1:] for row in Rows(path, fmt)] == [("good", "pos"), ("bad", "neg")]
    with pytest.raises(DataError, match="unknown encoding 'nope'"):
        list(Rows(utf16, "tsv", ReadOptions(encoding="nope")))
    with pytest.raises(DataError, match="not found; check data.train"):
        list(Rows(tmp_path / "missing.tsv", "tsv", ReadOptions()))


def test_train_streamed_equals_in_memory(cli, tiny_data, tmp_path):
    """Same vocabulary, labels and batch order: the streamed run trains the same model."""
    from conftest import FAST

    base = [f"data.{k}={v}" for k, v in tiny_data.items()] + FAST + ["model.name=textcnn"]
    results = {}
    for mode in ("false", "true"):
        run = tmp_path / mode
        sets = [*base, f"data.streaming={mode}"]
        code, _, err = cli("train", "-o", str(run), "-q", *[a for s in sets for a in ("--set", s)])
        assert code == 0, err
        metrics = json.loads((run / "metrics.json").read_text())
        results[mode] = {k: v for k, v in metrics["test"].items() if k != "texts_per_second"}
    assert (tmp_path / "true" / "corpus" / "manifest.json").is_file()
    assert results["true"] == results["false"]
