"""Contrastive few-shot (SetFit): the pair loss, its two stages, and a run through the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import FAST
from fenlei.errors import ConfigError
from fenlei.objectives.contrastive import Contrastive, pair_loss
from fenlei.objectives.supervised import CrossEntropy


class Encoder(torch.nn.Module):
    """features -> classify, like Transformer with mean pooling."""

    def __init__(self, dim=4, classes=2):
        super().__init__()
        torch.manual_seed(0)
        self.enc = torch.nn.Linear(dim, dim)
        self.head = torch.nn.Linear(dim, classes)

    def features(self, batch):
        return self.enc(batch["x"])

    def classify(self, features):
        return self.head(features)

    def forward(self, batch):
        return self.classify(self.features(batch))


def test_pair_loss_is_zero_when_same_labels_align_and_others_are_orthogonal():
    features = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    labels = torch.tensor([0, 0, 1, 1])
    assert pair_loss(features, labels).item() == pytest.approx(0.0, abs=1e-6)
    # all four identical: the 2 same-label pairs are right, the 4 others off by 1 -> (0 + 1) / 2
    same = torch.ones(4, 2)
    assert pair_loss(same, labels).item() == pytest.approx(0.5, abs=1e-6)


def test_pair_loss_of_one_class_batch_uses_the_positive_pairs_only():
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert pair_loss(features, torch.tensor([1, 1])).item() == pytest.approx(1.0)


def test_stage_one_moves_the_encoder_and_stage_two_only_the_head():
    model = Encoder()
    batch = {
        "x": torch.randn(6, 4, generator=torch.Generator().manual_seed(1)),
        "labels": torch.arange(6) % 2,
    }
    objective = Contrastive(CrossEntropy(), pair_share=0.5, pair_weight=1.0)
    out = objective(model, {**batch, "progress": 0.1})
    assert "pairs" in out
    out["loss"].backward()
    assert model.enc.weight.grad.abs().sum() > 0 and model.head.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    out = objective(model, {**batch, "progress": 0.9})
    assert "pairs" not in out
    out["loss"].backward()
    assert model.enc.weight.grad is None and model.head.weight.grad.abs().sum() > 0


def test_a_model_without_a_sentence_vector_is_a_config_error():
    class Plain(torch.nn.Module):
        def forward(self, batch):
            return batch["x"]

    with pytest.raises(ConfigError, match="model.pooling: mean"):
        Contrastive(CrossEntropy(), 0.8, 1.0)(
            Plain(), {"x": torch.zeros(2, 2), "labels": torch.tensor([0, 1])}
        )


def test_contrastive_trains_a_tiny_transformer_through_the_cli(cli, tmp_path, few_label_data, tiny_bert):
    run = tmp_path / "setfit"
    sets = [
        f"data.train={few_label_data['train']}",
        f"data.dev={few_label_data['dev']}",
        f"data.test={few_label_data['test']}",
        "data.labeled_per_class=5",
        "model.name=transformer",
        f"model.pretrained={tiny_bert}",
        "model.pooling=mean",
        "objective.name=contrastive",
        *FAST,
        "train.epochs=3",
        "train.batch_size=8",
        "train.lr=1e-3",
    ]
    code, _, err = cli("train", "-o", str(run), "--quiet", *[a for s in sets for a in ("--set", s)])
    assert code == 0, err
    header = (run / "history.csv").read_text().splitlines()[0]
    assert "pairs" in header and "head" in header
    assert 0.0 <= json.loads((run / "metrics.json").read_text())["test"]["accuracy"] <= 1.0


def test_cls_pooling_names_the_fix(cli, tmp_path, few_label_data, tiny_bert):
    sets = [
        f"data.train={few_label_data['train']}",
        f"data.test={few_label_data['test']}",
        "model.name=transformer",
        f"model.pretrained={tiny_bert}",
        "model.pooling=cls",
        "objective.name=contrastive",
        *FAST,
        "train.epochs=1",
    ]
    code, _, err = cli(
        "train", "-o", str(tmp_path / "r"), "--quiet", *[a for s in sets for a in ("--set", s)]
    )
    assert code != 0 and "model.pooling: mean" in err


def test_fit_linear_head_matches_scikit_learns_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    from fenlei.objectives.contrastive import fit_linear_head

    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 5, generator=g)
    y = (x[:, 0] + 0.5 * torch.randn(30, generator=g) > 0).long() + (x[:, 1] > 1).long()
    head = torch.nn.Linear(5, 3)
    fit_linear_head(head, x, y, c=0.5)
    ref = LogisticRegression(C=0.5, tol=1e-8, max_iter=2000).fit(x.numpy(), y.numpy())
    ours = torch.softmax(head(x), -1).detach().numpy()
    assert abs(ours - ref.predict_proba(x.numpy())).max() < 1e-3


def test_lbfgs_stage_two_refits_the_head_on_every_text_seen_without_touching_the_encoder():
    model = Encoder()
    g = torch.Generator().manual_seed(2)
    halves = [
        {
            "x": torch.randn(4, 4, generator=g),
            "input_ids": torch.arange(8).view(4, 2) + 10 * k,
            "lengths": torch.full((4,), 2),
            "labels": torch.tensor([0, 1, 0, 1]),
            "progress": 0.9,
        }
        for k in range(2)
    ]
    objective = Contrastive(CrossEntropy(), pair_share=0.5, pair_weight=1.0, head_fit="lbfgs", head_c=10.0)
    enc_before = model.enc.weight.detach().clone()
    objective(model, halves[0])
    out = objective(model, halves[1])
    assert len(objective._seen) == 8  # both batches' texts, by their ids
    out["loss"].backward()
    assert model.enc.weight.grad is None and torch.equal(model.enc.weight, enc_before)
    # a converged fit: the head's gradient on all 8 texts is only the small L2 term
    x = torch.cat([model.features(h) for h in halves]).detach()
    y = torch.cat([h["labels"] for h in halves])
    w = model.head.weight.detach().clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(x @ w.T + model.head.bias.detach(), y)
    loss = loss + 0.5 / (10.0 * 8) * w.pow(2).sum()
    loss.backward()
    assert w.grad.abs().max() < 1e-4
    assert objective(model, halves[0])["logits"].shape == (4, 2)


@pytest.mark.parametrize("key, value", [("head_fit", "newton"), ("head_c", 0), ("head_c", "big")])
def test_bad_head_settings_are_config_errors(key, value):
    from fenlei.objectives.contrastive import ContrastiveParams

    with pytest.raises(ConfigError, match=f"objective.{key}"):
        ContrastiveParams(**{key: value})
