"""Settings left at auto, filled from the train data: batch size and hashed n-gram buckets."""

from __future__ import annotations

import json

import numpy as np

from conftest import make_sentiment, write_tsv
from fenlei.config import load_config
from fenlei.models.base import NGRAM_BUCKETS_MAX, NGRAM_BUCKETS_MIN, auto_buckets
from fenlei.models.fasttext import FastText
from fenlei.models.textcnn import TextCNN
from fenlei.models.transformer import Transformer
from fenlei.training.auto_defaults import (
    BATCH_FLOOR,
    NgramCounter,
    auto_batch_size,
    fill_auto,
    micro_batches,
)


def test_batch_size_shrinks_for_a_small_train_set_only():
    assert auto_batch_size(64, 100_000) == 64  # the family's own
    assert auto_batch_size(64, 2_000) == 32  # at least 50 steps an epoch
    assert auto_batch_size(64, 900) == BATCH_FLOOR == 16
    assert auto_batch_size(64, 10) == 16  # never under the floor
    assert auto_batch_size(32, 1_000_000) == 32
    assert auto_batch_size(8, 10) == 8  # a family asking for less keeps it


def test_long_texts_are_split_into_micro_batches_with_the_same_texts_per_step():
    assert micro_batches(32, 1, 128, 4096) == (32, 1)  # within the bound: as given
    assert micro_batches(32, 1, 512, 4096) == (8, 4)
    assert micro_batches(32, 2, 300, 4096) == (8, 8)  # 3 parts needed, 4 make equal ones
    assert micro_batches(32, 1, 100_000, 4096) == (1, 32)  # never under one text a pass
    assert micro_batches(64, 1, 2048, None) == (64, 1)  # a family with no bound


def test_fill_auto_splits_a_transformer_batch_of_long_texts_but_not_a_batched_corpus():
    cfg = load_config(None, ["model.name=transformer", "data.max_length=512", "train.batch_size=32"])
    chosen = fill_auto(cfg, Transformer, 10_000, None, 100)
    assert (cfg.train.batch_size, cfg.train.accumulate) == (8, 4)
    assert chosen["micro_batches"] == "4 x 8"
    assert fill_auto(cfg, Transformer, 10_000, None, 100) == {}  # a resumed run: already split
    windows = load_config(None, ["model.name=transformer", "data.max_length=2000", "data.window=128"])
    fill_auto(windows, Transformer, 10_000, None, 100)
    assert (windows.train.batch_size, windows.train.accumulate) == (32, 1)  # rows are windows
    streamed = load_config(None, ["model.name=transformer", "data.max_length=512", "train.batch_size=32"])
    assert "micro_batches" not in fill_auto(streamed, Transformer, 10_000, None, 100, batched=True)


def test_ngram_counter_counts_distinct_id_ngrams_once():
    counter = NgramCounter([np.array([1, 2, 3, 1, 2]), np.array([2, 3]), np.array([7])], vocab_size=10)
    assert counter.distinct(2) == 3  # (1,2) (2,3) (3,1) (1,2); (2,3) again; none in [7]
    assert counter.distinct(3) == 3  # (1,2,3) (2,3,1) (3,1,2)
    assert counter.distinct(2) == 3 and counter._counts == {2: 3, 3: 3}  # counted once per order
    assert NgramCounter(None, 10).distinct(2) is None  # a streamed corpus: unknown


def test_buckets_follow_the_distinct_ngrams_within_bounds():
    assert auto_buckets(100) == NGRAM_BUCKETS_MIN
    assert auto_buckets(20_000) == 32_768  # the next power of two
    assert auto_buckets(100_000) == NGRAM_BUCKETS_MAX == 65_536
    assert auto_buckets(50_000_000) == NGRAM_BUCKETS_MAX
    assert auto_buckets(None) == NGRAM_BUCKETS_MAX
    counter = NgramCounter([np.arange(40_000)], vocab_size=50_000)
    assert FastText.fill_from_data({"ngrams": 2, "buckets": "auto"}, counter)["buckets"] == 65_536
    assert FastText.fill_from_data({"ngrams": 2, "buckets": 1000}, counter)["buckets"] == 1000  # given: kept
    # TextCNN with no n-gram channel needs no table: the smallest, never counted
    idle = NgramCounter(None, 10)
    assert (
        TextCNN.fill_from_data({"ngrams": 1, "ngram_buckets": "auto"}, idle)["ngram_buckets"]
        == NGRAM_BUCKETS_MIN
    )


def test_auto_values_are_recorded_and_said(cli, tmp_path):
    train = write_tsv(tmp_path / "train.tsv", make_sentiment(300, 0))
    run = tmp_path / "run"
    sets = [f"data.train={train}", "model.name=fasttext", "train.epochs=1", "train.progress=false"]
    code, _, err = cli("train", "-o", str(run), *[x for s in sets for x in ("--set", s)])
    assert code == 0, err
    assert "from the train data (auto): batch_size 16, buckets 16,384" in err
    config = (run / "config.yaml").read_text()
    assert "batch_size: 16" in config and "buckets: 16384" in config
    notes = json.loads((run / "metrics.json").read_text())["data"]
    assert notes["batch_size_auto"] == 16 and notes["buckets_auto"] == 16384
    code, out, err = cli("predict", str(run), "a great film")  # the saved numbers rebuild the model
    assert code == 0, err
