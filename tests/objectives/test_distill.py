"""Distillation: the loss's limits, and a student trained through the CLI from a teacher run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import FAST, make_sentiment, write_tsv
from fenlei.config import load_config
from fenlei.errors import ConfigError
from fenlei.objectives.distill import Distill
from fenlei.objectives.supervised import CrossEntropy
from fenlei.resolve import resolve


class Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, batch):
        return self.fc(batch["x"])


def _batch(n=8):
    g = torch.Generator().manual_seed(1)
    return {"x": torch.randn(n, 6, generator=g), "labels": torch.arange(n) % 3, "index": torch.arange(n)}


def _distill(teacher, distill_alpha=0.5, distill_temperature=2.0, label_smoothing=0.0):
    """The distill loss over precomputed teacher probabilities (the objective's builder gets them
    from a teacher run)."""
    return Distill(CrossEntropy(label_smoothing), teacher, distill_alpha, distill_temperature)


def test_alpha_zero_is_cross_entropy_and_alpha_one_ignores_labels():
    model, batch = Linear(), _batch()
    teacher = np.random.default_rng(0).dirichlet(np.ones(3), size=8).astype(np.float32)
    out = _distill(teacher, distill_alpha=0.0, label_smoothing=0.1)(model, batch)
    assert torch.allclose(out["loss"], F.cross_entropy(model(batch), batch["labels"], label_smoothing=0.1))
    flipped = dict(batch, labels=(batch["labels"] + 1) % 3)
    one = _distill(teacher, distill_alpha=1.0)
    assert torch.allclose(one(model, batch)["loss"], one(model, flipped)["loss"])


def test_kd_part_is_zero_when_the_student_matches_the_teacher_and_scales_with_t_squared():
    model, batch = Linear(), _batch()
    with torch.no_grad():
        own = torch.softmax(model(batch), -1).numpy()
    for t in (1.0, 3.0):
        assert _distill(own, distill_temperature=t)(model, batch)["kd"].item() == pytest.approx(0, abs=1e-5)
    uniform = np.full((8, 3), 1 / 3, dtype=np.float32)
    student = F.log_softmax(model(batch) / 2.0, -1)
    expected = F.kl_div(student, torch.full((8, 3), 1 / 3).log(), log_target=True, reduction="batchmean") * 4
    kd = _distill(uniform, distill_temperature=2.0)(model, batch)["kd"]
    assert torch.allclose(kd, expected, atol=1e-6)


def test_rows_follow_the_batch_index():
    model = Linear()
    teacher = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2, 0, 1]]
    batch = _batch()
    shuffled = {k: v[[7, 2, 5, 0]] for k, v in batch.items()}
    obj = _distill(teacher, distill_alpha=1.0, distill_temperature=1.0)
    kd = obj(model, shuffled)["kd"]
    logp = F.log_softmax(model(shuffled), -1)
    expected = -logp[torch.arange(4), torch.tensor([1, 2, 2, 0])].mean()  # KL to one-hot = CE
    assert torch.allclose(kd, expected, atol=1e-5)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        (["objective.name=distill"], "objective.teacher"),
        (["objective.distill_alpha=1.5"], "objective.distill_alpha"),
        (["objective.distill_temperature=0"], "objective.distill_temperature"),
    ],
)
def test_bad_settings_are_config_errors(override, key):
    with pytest.raises(ConfigError, match=key):
        resolve(load_config(None, override), in_memory=True)


def _train(cli, run, data, *extra):
    sets = [f"data.{k}={v}" for k, v in data.items()] + [
        "model.name=fasttext",
        *FAST,
        "train.lr=0.05",
        *extra,
    ]
    return cli("train", "-o", str(run), "--quiet", *[x for s in sets for x in ("--set", s)])


def test_student_learns_from_a_teacher_run_through_the_cli(cli, tmp_path, few_label_data):
    code, _, err = _train(cli, tmp_path / "teacher", few_label_data)
    assert code == 0, err
    code, _, err = _train(
        cli,
        tmp_path / "student",
        few_label_data,
        "model.name=textcnn",
        "objective.name=distill",
        f"objective.teacher={tmp_path / 'teacher'}",
        "augment.copies=1",
        "augment.ops=[swap,delete]",
    )
    assert code == 0, err
    run = tmp_path / "student"
    header = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert "ce" in header and "kd" in header
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] > 0.8


def test_a_teacher_with_other_labels_is_refused(cli, tmp_path, few_label_data):
    code, _, err = _train(cli, tmp_path / "teacher", few_label_data)
    assert code == 0, err
    other = write_tsv(
        tmp_path / "other.tsv", [("yes" if lab == "pos" else "no", t) for lab, t in make_sentiment(60, 3)]
    )
    code, _, err = _train(
        cli,
        tmp_path / "student",
        {**few_label_data, "train": other, "dev": other, "test": other},
        "objective.name=distill",
        f"objective.teacher={tmp_path / 'teacher'}",
    )
    assert code == 2 and "Traceback" not in err
    assert "other labels" in err and "'yes'" in err


def test_a_missing_teacher_is_a_run_dir_error(cli, tmp_path, few_label_data):
    code, _, err = _train(
        cli,
        tmp_path / "s",
        few_label_data,
        "objective.name=distill",
        f"objective.teacher={tmp_path / 'nope'}",
    )
    assert code != 0 and "Traceback" not in err
    assert "nope" in err and "not found" in err
