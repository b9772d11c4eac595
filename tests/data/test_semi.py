"""Unlabelled texts for UDA: hiding labels, the file, and the sample that data.unlabeled_limit keeps."""

from __future__ import annotations

import pytest

from conftest import sentiment_files
from fenlei.config import load_config
from fenlei.data.loading import load_splits
from fenlei.data.semi import unlabeled_texts
from fenlei.errors import ConfigError


def _hidden(tmp_path, *sets):
    tmp_path.mkdir()
    files = sentiment_files(tmp_path / "d", 200, 20)
    cfg = load_config(
        None, [f"data.{k}={v}" for k, v in files.items()] + ["data.labeled_per_class=10", *sets]
    )
    splits = load_splits(cfg.data)
    return splits, unlabeled_texts(cfg, splits, "uda", True)


def test_the_limit_keeps_a_seeded_sample_of_the_hidden_texts(tmp_path):
    splits, (kept, every) = _hidden(tmp_path / "a")
    _, (kept_50, some) = _hidden(tmp_path / "b", "data.unlabeled_limit=50")
    _, (_, again) = _hidden(tmp_path / "c", "data.unlabeled_limit=50")
    _, (_, other) = _hidden(tmp_path / "e", "data.unlabeled_limit=50", "data.split_seed=7")
    assert len(kept.train.texts) == len(kept_50.train.texts) == 20
    assert len(some) == 50 and set(some) <= set(every)
    assert some == again and some != other
    assert some != every[:50]  # a sample, not the head of the file


def test_a_limit_above_the_count_keeps_all_and_a_negative_one_is_refused(tmp_path):
    _, (_, every) = _hidden(tmp_path / "a")
    _, (_, also) = _hidden(tmp_path / "b", "data.unlabeled_limit=100000")
    assert also == every
    with pytest.raises(ConfigError, match="data.unlabeled_limit"):
        _hidden(tmp_path / "c", "data.unlabeled_limit=-1")
