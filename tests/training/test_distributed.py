"""Data-parallel training under torchrun (gloo on CPU): sharding, one run directory, two nodes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import make_sentiment, write_tsv
from fenlei.data.batching import Batches
from fenlei.training.distributed import DistContext, ShardedBatches

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
QUIET = ["train.progress=false", "train.tensorboard=false", "train.report=false"]


@pytest.mark.parametrize(("n_batches", "world"), [(10, 2), (11, 2), (7, 3), (1, 2)])
def test_shards_cover_every_batch_with_equal_counts(n_batches, world):
    seqs = [np.arange(1, 2 + i % 5) for i in range(n_batches * 4)]
    inner = Batches(seqs, [0] * len(seqs), 4, 0, shuffle=True, seed=3)
    shards = [ShardedBatches(inner, DistContext(rank, world, rank, "gloo")) for rank in range(world)]
    for shard in shards:
        shard.set_epoch(2)
    orders = [shard.order() for shard in shards]
    assert {len(o) for o in orders} == {len(shards[0])}  # every rank takes as many steps
    taken = np.concatenate([b for o in orders for b in o])
    assert set(taken.tolist()) == set(range(len(seqs)))  # padding repeats, nothing is lost


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sets(items: list[str]) -> list[str]:
    return [a for s in items for a in ("--set", s)]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> list[str]:
    d = tmp_path_factory.mktemp("ddp-data")
    train = write_tsv(d / "train.tsv", make_sentiment(240, 0))
    dev = write_tsv(d / "dev.tsv", make_sentiment(41, 1))  # odd: ranks score unequal shares
    test = write_tsv(d / "test.tsv", make_sentiment(40, 2))
    return [f"data.train={train}", f"data.dev={dev}", f"data.test={test}", *QUIET]


def _env() -> dict:
    # One thread per process: two ranks on a 2-core machine.
    return os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _train_two(run: Path, data: list[str], *sets: str) -> subprocess.CompletedProcess:
    """``fenlei train -o RUN`` on the test data under torchrun with 2 processes, 8 texts per batch each."""
    return _two_processes("train", "-o", str(run), *_sets([*data, "train.batch_size=8", *sets]))


def _two_processes(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``fenlei ARGS`` under ``torchrun --nproc_per_node 2`` on a free port."""
    cmd = [*TORCHRUN, "--nproc_per_node", "2", "--master_port", str(_free_port()), "-m", "fenlei", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())


@pytest.mark.parametrize(("model", "streaming"), [("textcnn", "false"), ("fasttext", "true")])
def test_two_processes_write_one_run(data, tmp_path, model, streaming):
    run = tmp_path / "run"
    done = _train_two(run, data, f"model.name={model}", "train.epochs=3", f"data.streaming={streaming}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test: accuracy") == 1  # rank 0 alone prints
    assert "2 processes (gloo) x batch 8" in done.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["world_size"] == 2 and metrics["train"]["effective_batch_size"] == 16
    assert metrics["test"]["accuracy"] > 0.8
    # dev metrics were gathered over both ranks' shares: accuracy is a count out of all 41 texts
    hits = metrics["dev"]["accuracy"] * 41
    assert abs(hits - round(hits)) < 1e-6
    assert len((run / "predictions.tsv").read_text().splitlines()) == 41  # header + 40 test rows


def test_two_nodes_on_loopback(data, tmp_path):
    run = tmp_path / "run"
    sets = [*data, "model.name=fasttext", "train.epochs=2", "train.batch_size=8"]
    port = _free_port()
    procs = [
        subprocess.Popen(
            [
                *TORCHRUN,
                "--nnodes",
                "2",
                "--node_rank",
                str(rank),
                "--nproc_per_node",
                "1",
                "--rdzv-backend",
                "c10d",
                "--rdzv-endpoint",
                f"127.0.0.1:{port}",
                "--rdzv-id",
                "fenlei-test",
                "-m",
                "fenlei",
                "train",
                "-o",
                str(run),
                *_sets(sets),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )  # fmt: skip
        for rank in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    assert sum(out.count("test: accuracy") for out, _ in outs) == 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["world_size"] == 2
    assert (run / "model.safetensors").is_file() and not (run / "FAILED").exists()


SST2 = Path(__file__).resolve().parents[3] / "shared" / "data" / "sst2"


@pytest.mark.slow
@pytest.mark.skipif(not SST2.is_dir(), reason="needs ../shared/data/sst2")
def test_sst2_textcnn_two_processes_match_one(tmp_path):
    """Same effective batch (2 x 25 = 50): test accuracy within 1 point of the single process."""
    recipe = str(Path(__file__).resolve().parents[2] / "configs" / "sst2-textcnn.yaml")
    base = [*QUIET, "train.seed=1"]
    single = subprocess.run(
        [sys.executable, "-m", "fenlei", "train", recipe, "-o", str(tmp_path / "one"), "-q", *_sets(base)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    two_sets = _sets([*base, "train.batch_size=25"])
    two = _two_processes("train", recipe, "-o", str(tmp_path / "two"), "-q", *two_sets, timeout=900)
    assert two.returncode == 0, two.stderr[-3000:]
    acc = [
        json.loads((tmp_path / r / "metrics.json").read_text())["test"]["accuracy"] for r in ("one", "two")
    ]
    assert abs(acc[0] - acc[1]) <= 0.01, acc


def _family_sets(name: str, workdir: Path) -> list[str]:
    """The family's own tiny params as --set overrides."""
    from fenlei.models import model_class

    tiny = model_class(name).tiny_params(workdir)
    return [
        "model.embed_dim=16",
        "data.max_length=32",
        *(f"model.{k}={json.dumps(v)}" for k, v in tiny.items()),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["textrnn", "textrnn_att", "textrcnn", "dpcnn", "transformer"])
def test_every_family_trains_on_two_processes(data, tmp_path, name):
    run = tmp_path / "run"
    done = _train_two(run, data, f"model.name={name}", "train.epochs=2", *_family_sets(name, tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((run / "metrics.json").read_text())["train"]["world_size"] == 2
