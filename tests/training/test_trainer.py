"""The one loop: it learns, stops early, and resumes bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fenlei.config import load_config
from fenlei.data.batching import Batches
from fenlei.data.labels import LabelMap
from fenlei.errors import ConfigError
from fenlei.models import create_model
from fenlei.objectives import Context, build_objective
from fenlei.resolve import resolve
from fenlei.task import SingleLabel
from fenlei.training.callbacks import Callback, EarlyStopping
from fenlei.training.ema import WeightEMA
from fenlei.training.trainer import Trainer


def _setup(overrides, checkpoint_dir=None, callbacks=()):
    raw = load_config(None, ["model.name=fasttext", "train.progress=false", *overrides])
    cfg = resolve(raw, in_memory=True).cfg
    rng = np.random.default_rng(0)
    # filler tokens 10..39 plus one key token: 2..5 means class 0, 6..9 class 1
    labels = [i % 2 for i in range(120)]
    seqs = [
        np.concatenate([rng.integers(10, 40, size=rng.integers(1, 10)), [rng.integers(2, 6) + 4 * y]])
        for y in labels
    ]
    torch.manual_seed(0)
    model = create_model("fasttext", 40, 2, params={"ngrams": 1}, embed_dim=16)
    objective = build_objective(cfg.objective, Context(SingleLabel(), LabelMap(["a", "b"]), labels))
    train_b = Batches(seqs[:100], labels[:100], 10, 0, shuffle=True, seed=cfg.train.seed)
    dev_b = Batches(seqs[100:], labels[100:], 32, 0)
    trainer = Trainer(
        model,
        objective,
        train_b,
        dev_b,
        cfg.train,
        cfg.optim,
        label_names=["a", "b"],
        callbacks=list(callbacks),
        checkpoint_dir=checkpoint_dir,
    )
    return trainer


def test_loss_goes_down():
    trainer = _setup(["train.epochs=15", "train.lr=0.05"])
    before, _ = trainer.evaluate(trainer.train_batches)
    trainer.fit()
    after, _ = trainer.evaluate(trainer.train_batches)
    assert after["loss"] < before["loss"] * 0.5
    assert after["accuracy"] > 0.9


def test_early_stopping_stops():
    # a learning rate this small cannot move the dev metric, so patience 2 ends the run early
    trainer = _setup(["train.epochs=20", "train.lr=1e-12"], callbacks=[EarlyStopping(2)])
    state = trainer.fit()
    assert state.stopped_early
    assert state.epoch == 3


class _Crash(Callback):
    def __init__(self, at: int):
        self.at = at

    def on_step_end(self, trainer, logs):
        if trainer.state.step == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize(("accumulate", "extra"), [(1, []), (2, []), (1, ["train.ema=0.9"])])
def test_resume_matches_uninterrupted(tmp_path, accumulate, extra):
    over = [
        *extra,
        "train.epochs=3",
        "train.lr=0.01",
        "train.eval_every=3",
        "train.checkpoint_every=3",  # an evaluation alone writes no resume point
        f"train.accumulate={accumulate}",
        "optim.schedule=cosine",
        "optim.warmup=0.2",
        "model.dropout=0.3",
    ]
    full = _setup(over, tmp_path / "a")
    full.fit()
    crashed = _setup(over, tmp_path / "b", callbacks=[_Crash(at=8)])
    with pytest.raises(KeyboardInterrupt):
        crashed.fit()
    resumed = _setup(over, tmp_path / "b")
    assert resumed.load_checkpoint() and resumed.state.step == 6
    resumed = _setup(over, tmp_path / "b")
    resumed.fit(resume=True)
    assert resumed.state.step == full.state.step
    for (name, p), q in zip(
        full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), name
    if full.ema is not None:
        for name, p in full.ema.shadow.items():
            assert torch.equal(p, resumed.ema.shadow[name]), name


@pytest.mark.parametrize("extra", [[], ["train.ema=0.9"]])
def test_best_checkpoint_is_restored(tmp_path, extra):
    trainer = _setup(["train.epochs=4", "train.lr=0.05", *extra], tmp_path)
    trainer.fit()
    best = trainer.state.best_metric
    assert (tmp_path / "best.safetensors").is_file()
    assert trainer.load_best()
    metrics, _ = trainer.evaluate(trainer.dev_batches)
    assert metrics["accuracy"] == pytest.approx(best)


def test_weight_ema_averages_and_restores_live_weights():
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = WeightEMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # warm-up decay min(0.5, 2/11) = 2/11: shadow = 9/11
    assert torch.allclose(ema.shadow["weight"], torch.full((1, 2), 9 / 11))
    with ema.applied(model):
        assert torch.allclose(model.weight, torch.full((1, 2), 9 / 11))
    assert torch.equal(model.weight, torch.ones(1, 2))


def test_ema_out_of_range_is_a_config_error():
    with pytest.raises(ConfigError, match="train.ema"):
        load_config(None, ["train.ema=1.0"])
