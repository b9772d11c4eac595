"""Learning-rate schedules and parameter groups, directly (the trainer tests use them end to end)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from fenlei.config import OptimConfig
from fenlei.training.optim import build_optimizer, build_scheduler, lr_factor, param_groups, warmup_steps


def test_warmup_is_a_ratio_below_one_else_a_step_count():
    assert warmup_steps(0.1, 200) == 20 and warmup_steps(0.0, 200) == 0 and warmup_steps(7, 200) == 7


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_warmup_rises_linearly_to_the_peak(schedule):
    assert [lr_factor(s, schedule, 4, 20) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(4, schedule, 4, 20) == pytest.approx(1.0)


def test_decays_after_warmup():
    total, warm = 20, 4
    assert all(lr_factor(s, "constant", warm, total) == 1.0 for s in range(warm, total))
    assert lr_factor(12, "linear", warm, total) == pytest.approx(0.5)
    assert lr_factor(total, "linear", warm, total) == 0.0
    assert lr_factor(12, "cosine", warm, total) == pytest.approx(0.5)
    assert lr_factor(8, "cosine", warm, total) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(10 * total, "cosine", warm, total) == pytest.approx(0.0)  # past the end: floor


def test_scheduler_follows_lr_factor_per_optimiser_step():
    model = torch.nn.Linear(3, 2)
    cfg = OptimConfig(schedule="linear", warmup=0.25)
    opt = build_optimizer(model, cfg, lr=0.1)
    sched = build_scheduler(opt, cfg, total_steps=8)
    seen = []
    for _ in range(8):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [0.1 * lr_factor(s, "linear", 2, 8) for s in range(8)]
    assert seen == pytest.approx(expected)


def test_groups_spare_biases_norms_and_embeddings_from_decay_and_take_lr_scales():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)
            self.norm = torch.nn.LayerNorm(4)
            self.fc = torch.nn.Linear(4, 2)
            self.frozen = torch.nn.Linear(4, 4)
            self.frozen.requires_grad_(False)

        def lr_scale(self, name):
            return 10.0 if name.startswith("fc.") else 1.0

    groups = param_groups(Net(), weight_decay=0.01, lr=1e-3)
    as_sets = {(g["weight_decay"], g["lr"]): {p.shape for p in g["params"]} for g in groups}
    assert as_sets[(0.01, 1e-2)] == {torch.Size([2, 4])}  # fc.weight: decayed, scaled
    assert as_sets[(0.0, 1e-2)] == {torch.Size([2])}  # fc.bias
    assert as_sets[(0.0, 1e-3)] == {torch.Size([10, 4]), torch.Size([4])}  # embedding, norm
    assert sum(len(g["params"]) for g in groups) == 5  # the frozen layer is left out


@pytest.mark.parametrize(("name", "kind"), [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam)])
def test_optimizer_by_name(name, kind):
    assert isinstance(build_optimizer(torch.nn.Linear(2, 2), OptimConfig(name=name), 0.1), kind)
    sgd = build_optimizer(torch.nn.Linear(2, 2), OptimConfig(name="sgd", momentum=0.5), 0.1)
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.5


class Bag(torch.nn.Module):
    """A sparse-gradient table and a dense head: the shape of the fastText family."""

    def __init__(self) -> None:
        super().__init__()
        self.table = torch.nn.EmbeddingBag(20, 3, mode="mean", sparse=True)
        self.head = torch.nn.Linear(3, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.table(ids))


def _step(model: Bag, opt, ids: torch.Tensor) -> None:
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(ids), torch.tensor([0, 1])).backward()
    opt.step()


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd"])
def test_sparse_tables_move_only_in_the_rows_a_batch_touched(name):
    torch.manual_seed(0)
    model = Bag()
    before = model.table.weight.detach().clone()
    opt = build_optimizer(model, OptimConfig(name=name, weight_decay=0.01), 0.1)
    groups = param_groups(model, 0.01, 0.1)
    assert [g["sparse"] for g in groups][-1] and sum(g["sparse"] for g in groups) == 1  # table last
    _step(model, opt, torch.tensor([[1, 2], [3, 3]]))
    moved = (model.table.weight != before).any(1).nonzero().flatten().tolist()
    assert moved == [1, 2, 3]


def test_split_optimizer_state_and_rates_round_trip():
    torch.manual_seed(0)
    model, ids = Bag(), torch.tensor([[1, 2], [3, 4]])
    opt = build_optimizer(model, OptimConfig(name="adamw"), 0.1)
    assert len(opt.param_groups) == 3  # head weight, head bias, table: the parts' own groups
    _step(model, opt, ids)
    state = copy.deepcopy(opt.state_dict())  # as a checkpoint file would: no shared tensors
    twin = Bag()
    twin.load_state_dict(model.state_dict())
    again = build_optimizer(twin, OptimConfig(name="adamw"), 0.1)
    again.load_state_dict(state)
    for group in again.param_groups:
        group["lr"] = 0.05  # a scheduler's change must reach the parts after a load
    for group in opt.param_groups:
        group["lr"] = 0.05
    _step(model, opt, ids)
    _step(twin, again, ids)
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)
