"""The fasttext family's own solver (model.solver sgd / adagrad): exact SGD steps, choice of
solver, and runs that learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.conftest import make_sentiment, write_tsv

from fenlei.config import load_config
from fenlei.errors import ConfigError
from fenlei.models import create_model
from fenlei.models.fasttext_sgd import features, train_sgd
from fenlei.resolve import resolve
from fenlei.training.pipeline import train


def _model(ngrams: int = 2, bias: bool = True, pooling: str = "split"):
    torch.manual_seed(0)
    params = {"ngrams": ngrams, "buckets": 31, "bias": bias, "pooling": pooling}
    if pooling == "split":  # split allows an n-gram size of its own
        params["ngram_dim"] = 3
    return create_model("fasttext", 20, 3, params=params, embed_dim=4, pad_id=0, embeddings=None)


@pytest.mark.parametrize(
    ("ngrams", "bias", "pooling"),
    [(1, True, "split"), (2, True, "split"), (3, True, "split"), (2, False, "split")]
    + [(2, True, "joint"), (3, False, "joint")],
)
def test_one_sgd_step_is_a_plain_gradient_step_of_the_torch_model(ngrams, bias, pooling):
    model = _model(ngrams, bias, pooling)
    with torch.no_grad():  # a non-zero output layer, so every table gets a gradient
        model.classifier.weight.normal_()
    ids = np.array([5, 7, 5, 9, 2], dtype=np.int64)
    batch = {"input_ids": torch.from_numpy(ids)[None], "lengths": torch.tensor([len(ids)])}
    loss = torch.nn.functional.cross_entropy(model(batch), torch.tensor([1]))
    loss.backward()
    lr = 0.3
    expected = {n: (p - lr * p.grad).detach().clone() for n, p in model.named_parameters()}
    table = model.ngram_bag.weight if model.ngram_bag is not None else torch.zeros(1, 0)
    arrays = {
        "weight": model.classifier.weight.detach().numpy(),
        "bias": model.classifier.bias.detach().numpy() if bias else np.zeros(0, np.float32),
        "emb": model.embedding.weight.detach().numpy(),
        "table": table.detach().numpy(),
    }
    targets = np.array([[0, 1, 0]], dtype=np.float32)
    # one epoch of one text: the rate at step 0 is the full rate
    train_sgd(arrays, features([ids], ngrams, 31), targets, True, lr, 1, 0, joint=model.joint)
    for name, param in model.named_parameters():
        np.testing.assert_allclose(param.detach().numpy(), expected[name].numpy(), atol=1e-6, err_msg=name)


def _cfg(tmp_path, extra: list[str]):
    path = write_tsv(tmp_path / "train.tsv", make_sentiment(200, 0))
    test = write_tsv(tmp_path / "test.tsv", make_sentiment(60, 1))
    sets = [f"data.train={path}", f"data.test={test}", "model.name=fasttext", "model.embed_dim=8"]
    quick = ["train.epochs=20", "train.tensorboard=false", "train.progress=false"]
    return load_config(None, [*sets, *quick, *extra])


@pytest.mark.parametrize(
    ("extra", "solver"),
    [
        ([], "loop"),
        (["model.solver=auto"], "sgd"),
        (["model.solver=auto", "objective.label_smoothing=0.1"], "loop"),
        (["model.solver=auto", "model.hidden=4"], "loop"),
        (["model.solver=auto", "model.dropout=0.2"], "loop"),
        (["model.solver=auto", "train.ema=0.9"], "loop"),
        (["model.solver=adagrad"], "adagrad"),
    ],
)
def test_auto_solver_is_sgd_unless_the_loop_is_needed(tmp_path, extra, solver):
    assert resolve(_cfg(tmp_path, extra)).cfg.model.params["solver"] == solver


def test_joint_pooling_with_its_own_ngram_size_is_refused_before_training(tmp_path):
    with pytest.raises(
        ConfigError, match="model.pooling joint .*ngram_dim \\(5\\) must equal model.embed_dim"
    ):
        resolve(_cfg(tmp_path, ["model.pooling=joint", "model.ngram_dim=5"]))
    # auto with its own n-gram size is split, whatever the solver
    cfg = resolve(_cfg(tmp_path, ["model.solver=sgd", "model.ngram_dim=5"])).cfg
    assert cfg.model.params["pooling"] == "split"


def test_sgd_asked_with_a_loop_only_setting_says_what_to_change(tmp_path):
    with pytest.raises(ConfigError, match="model.solver sgd: model.hidden > 0 .*set model.solver=loop"):
        resolve(_cfg(tmp_path, ["model.solver=sgd", "model.hidden=4"]))


@pytest.mark.parametrize(("solver", "pooling"), [("sgd", "auto"), ("adagrad", "auto"), ("sgd", "split")])
def test_sgd_runs_learn_and_repeat_exactly(tmp_path, solver, pooling):
    extra = [f"model.solver={solver}", "model.sgd_lr=0.5" if solver == "sgd" else "model.sgd_lr=0.2"]
    extra.append(f"model.pooling={pooling}")
    a = train(_cfg(tmp_path, extra), tmp_path / "a", quiet=True)
    b = train(_cfg(tmp_path, extra), tmp_path / "b", quiet=True)
    assert a.metrics["test"]["accuracy"] >= 0.9
    assert a.metrics["train"]["closed_form"]["solver"] == solver
    assert a.metrics["dev"]["accuracy"] == 1.0
    # auto is fastText's one mean for its own solvers, and config.yaml says so
    assert load_config(tmp_path / "a" / "config.yaml").model.params["pooling"] == (
        "joint" if pooling == "auto" else pooling
    )
    losses = a.metrics["train"]["closed_form"]["loss_by_epoch"]
    assert losses[-1] < losses[0]
    assert a.metrics["test"]["accuracy"] == b.metrics["test"]["accuracy"]
    saved = [(tmp_path / run / "model.safetensors").read_bytes() for run in ("a", "b")]
    assert saved[0] == saved[1]
    history = (tmp_path / "a" / "history.csv").read_text().splitlines()
    assert sum(",dev," in row for row in history) == 4  # the learning curve's dev points
    assert float(history[-1].split(",")[1]) == 20.0  # the epoch column counts the solver's epochs


def test_sgd_trains_multi_label_with_independent_sigmoids(tmp_path):
    rows = [(label + ("|long" if len(text) > 30 else ""), text) for label, text in make_sentiment(240, 0)]
    path = write_tsv(tmp_path / "ml.tsv", rows)
    sets = [f"data.train={path}", "data.multi_label=true", "model.name=fasttext", "model.embed_dim=8"]
    cfg = load_config(
        None, [*sets, "train.epochs=8", "train.tensorboard=false", "model.solver=sgd", "model.sgd_lr=0.3"]
    )
    result = train(cfg, tmp_path / "ml", quiet=True)
    assert result.metrics["train"]["closed_form"]["solver"] == "sgd"
    assert result.metrics["dev"]["micro_f1"] >= 0.8


def test_refit_learns_from_dev_after_dev_is_scored(tmp_path):
    import csv

    again = train(_cfg(tmp_path, ["model.solver=sgd", "train.refit=true"]), tmp_path / "refit", quiet=True)
    # dev is the first fit's score, its last dev evaluation (the refit has seen dev); test and the
    # saved model are the refit's
    with open(tmp_path / "refit" / "history.csv") as fh:
        last_dev = [row for row in csv.DictReader(fh) if row["split"] == "dev"][-1]
    assert again.metrics["dev"]["accuracy"] == pytest.approx(float(last_dev["accuracy"]))
    n = again.metrics["data"]["train"] + again.metrics["data"]["dev"]
    assert again.metrics["train"]["refit"]["texts"] == n
    assert again.metrics["train"]["seconds"] > again.metrics["train"]["refit"]["seconds"]  # both fits
    from fenlei.inference import load

    rows = (tmp_path / "refit" / "predictions.tsv").read_text().splitlines()[1:]
    texts = [r.split("\t")[0] for r in rows[:20]]
    probs = load(tmp_path / "refit", "torch").predict_proba(texts)
    assert np.allclose(probs.max(1), [float(r.split("\t")[3]) for r in rows[:20]], atol=1e-5)


def test_refit_is_refused_where_the_loop_trains(tmp_path):
    with pytest.raises(ConfigError, match="train.refit: model 'fasttext' .*trained by the loop"):
        resolve(_cfg(tmp_path, ["model.solver=loop", "train.refit=true"]))
