"""safetensors + JSON state I/O: atomic writes, nested optimiser state, RNG round trips, no pickle."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from fenlei import state_io


def test_tensors_round_trip_and_shared_storage_is_cloned(tmp_path):
    model = torch.nn.Linear(3, 2)
    tied = torch.nn.Module()
    tied.a = model
    tied.b = model  # the same weights under two names: safetensors refuses aliases
    tensors = state_io.model_tensors(tied)
    path = tmp_path / "m.safetensors"
    state_io.save_tensors(path, tensors)
    back = state_io.read_tensors(path)
    assert set(back) == {"a.weight", "a.bias", "b.weight", "b.bias"}
    assert torch.equal(back["b.weight"], model.weight) and not (tmp_path / "m.safetensors.tmp").exists()
    assert path.read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle


def test_optimizer_state_splits_into_json_and_tensors():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors: dict = {}
    meta = state_io.split_state(opt.state_dict(), "optim", tensors)
    json.dumps(meta)  # the rest is plain JSON
    again = state_io.join_state(json.loads(json.dumps(meta)), tensors)
    fresh = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    fresh.load_state_dict(again)
    for a, b in zip(fresh.state.values(), opt.state.values(), strict=True):
        assert torch.equal(a["exp_avg"], b["exp_avg"])


def test_rng_states_round_trip():
    meta, tensors = state_io.rng_state()
    meta = json.loads(json.dumps(meta))
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    state_io.set_rng_state(meta, tensors)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_atomic_writes_leave_the_old_file_when_a_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    state_io.write_json(path, {"a": 1})

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(state_io.os, "replace", broken)
    with pytest.raises(OSError):
        state_io.write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}


def test_replace_dir_keeps_a_readable_copy(tmp_path):
    final, tmp = tmp_path / "last", tmp_path / "last.tmp"
    for step in (1, 2):
        tmp.mkdir()
        (tmp / "state.json").write_text(json.dumps({"step": step}))
        state_io.replace_dir(tmp, final)
    assert json.loads((state_io.existing_dir(final, "state.json") / "state.json").read_text())["step"] == 2
    assert state_io.existing_dir(tmp_path / "none", "state.json") is None
