"""Slow end-to-end runs on ../shared/data (skipped when it is absent): recipes reach their floors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fenlei.models import list_models, model_class

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")]

QUIET = ["--quiet", "--set", "train.tensorboard=false"]


@pytest.mark.parametrize(("recipe", "floor"), [("sst2-fasttext", 0.805), ("thucnews-fasttext", 0.845)])
def test_fasttext_recipes_reach_floor(cli, tmp_path, recipe, floor):
    run = tmp_path / recipe
    code, _, err = cli("train", str(CONFIGS / f"{recipe}.yaml"), "-o", str(run), *QUIET)
    assert code == 0, err
    acc = json.loads((run / "metrics.json").read_text())["test"]["accuracy"]
    assert acc >= floor, acc


# every registered family that trains from scratch (a pretrained encoder has its own slow tests)
FROM_SCRATCH = [name for name in list_models() if not model_class(name).pretrained_weights]


@pytest.mark.parametrize("model", FROM_SCRATCH)
@pytest.mark.parametrize("data", ["mr", "thucnews"])
def test_every_model_trains_on_real_data(cli, tmp_path, model, data):
    # one short epoch on a slice is enough to prove each family runs end to end on real text
    train = SHARED / data / "train.tsv"
    test = SHARED / data / "test.tsv"
    run = tmp_path / f"{data}-{model}"
    code, _, err = cli(
        "train",
        "-o",
        str(run),
        *QUIET,
        "--set",
        f"data.train={train}",
        "--set",
        f"data.test={test}",
        "--set",
        f"model.name={model}",
        "--set",
        "train.epochs=1",
        "--set",
        "train.lr=0.003",
        "--set",
        "data.max_length=40",
        "--set",
        "model.embed_dim=64",
    )
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    chance = 1 / len(metrics["data"]["labels"])
    assert metrics["test"]["accuracy"] > chance + 0.05
