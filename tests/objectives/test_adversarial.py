"""Adversarial training (FGM on the embeddings): the perturbation, the wrapper, and the CLI switch."""

from __future__ import annotations

import pytest
import torch

from conftest import FAST, make_objective
from fenlei.config import load_config
from fenlei.errors import ConfigError
from fenlei.models import create_model
from fenlei.objectives.adversarial import Adversarial, embedding_layers, fgm_delta


def _textcnn(**params):
    torch.manual_seed(0)
    params = {"filter_sizes": [2, 3], "num_filters": 4, "dropout": 0.0, **params}
    return create_model("textcnn", 50, 3, params=params, embed_dim=8)


def _batch():
    g = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(1, 50, (6, 9), generator=g),
        "lengths": torch.tensor([9, 7, 5, 9, 3, 8]),
        "labels": torch.tensor([0, 1, 2, 0, 1, 2]),
    }


def test_delta_has_norm_epsilon_per_example():
    grad = torch.randn(4, 5, 3)
    grad[2] *= 100.0
    delta = fgm_delta(grad, 0.7)
    assert torch.allclose(delta.flatten(1).norm(dim=1), torch.full((4,), 0.7), atol=1e-6)
    assert torch.allclose(delta[1] / delta[1].norm(), grad[1] / grad[1].norm(), atol=1e-6)


def test_embedding_layers_are_the_inputs():
    model = _textcnn(static_copy=True, ngrams=2, ngram_buckets=64)
    assert embedding_layers(model) == [model.embedding, model.static, model.ngram_embedding]


def test_transformer_perturbs_word_embeddings_only(tiny_bert):
    model = create_model("transformer", 0, 2, params={"pretrained": tiny_bert})
    assert embedding_layers(model) == [model.hf.get_input_embeddings()]


def test_loss_is_clean_plus_adversarial_and_the_push_raises_the_loss():
    model, batch = _textcnn(), _batch()
    model.train()
    plain = make_objective()
    adv = make_objective(adversarial=0.5)
    assert isinstance(adv, Adversarial)
    out = adv(model, batch)
    clean = plain(model, batch)["loss"]
    assert torch.allclose(out["loss"], clean + out["adv"], atol=1e-6)
    assert out["adv"] > clean  # dropout is 0: the only change is the loss-raising push
    tiny = Adversarial(plain, 1e-6)(model, batch)
    assert torch.allclose(tiny["adv"], clean, atol=1e-5)
    for layer in embedding_layers(model):  # hooks are gone after the call
        assert not layer._forward_hooks


def test_gradients_reach_the_tuned_table_and_spare_the_frozen_copy():
    model, batch = _textcnn(static_copy=True), _batch()
    model.train()
    frozen = model.static.weight.clone()
    adv = Adversarial(make_objective(), 1.0)
    adv(model, batch)["loss"].backward()
    assert model.embedding.weight.grad is not None and model.embedding.weight.grad.abs().sum() > 0
    assert model.static.weight.grad is None and torch.equal(model.static.weight, frozen)


def test_composes_with_rdrop():
    model, batch = _textcnn(dropout=0.3), _batch()
    model.train()
    out = make_objective("rdrop", adversarial=1.0)(model, batch)
    assert {"ce", "kl", "adv"} <= set(out) and torch.isfinite(out["loss"])
    out["loss"].backward()


def test_negative_epsilon_is_a_config_error():
    with pytest.raises(ConfigError, match="objective.adversarial"):
        load_config(None, ["objective.adversarial=-1"])


def test_cli_switch_trains_and_logs_the_adversarial_part(cli, tmp_path, tiny_data):
    sets = [f"data.{k}={v}" for k, v in tiny_data.items()]
    sets += ["model.name=textcnn", *FAST, "objective.adversarial=1.0"]
    code, _, err = cli(
        "train", "-o", str(tmp_path / "run"), "--quiet", *[x for s in sets for x in ("--set", s)]
    )
    assert code == 0, err
    header = (tmp_path / "run" / "history.csv").read_text().splitlines()[0].split(",")
    assert "adv" in header
