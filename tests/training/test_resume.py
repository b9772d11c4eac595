"""A run killed (SIGKILL) or stopped (SIGTERM) mid-epoch and resumed ends like one never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import make_sentiment, write_tsv

TIMING = {"texts_per_second", "seconds", "total_seconds", "peak_rss_mb"}


def _data(tmp_path: Path) -> list[str]:
    d = tmp_path / "data"
    d.mkdir()
    train = write_tsv(d / "train.tsv", make_sentiment(1200, 0))
    dev = write_tsv(d / "dev.tsv", make_sentiment(60, 1))
    test = write_tsv(d / "test.tsv", make_sentiment(60, 2))
    return [f"data.train={train}", f"data.dev={dev}", f"data.test={test}"]


SETTINGS = [
    "model.name=textcnn",
    "model.num_filters=8",
    "model.filter_sizes=[2,3]",
    "model.dropout=0.3",  # dropout draws random numbers: the RNG state must survive the kill
    "model.embed_dim=16",
    "train.epochs=3",
    "train.batch_size=4",
    "train.lr=0.01",
    "train.threads=1",
    "train.checkpoint_every=5",
    "train.progress=false",
    "train.tensorboard=false",
    "train.report=false",
    "optim.schedule=cosine",
    "optim.warmup=0.1",
]


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "fenlei", *args]


def _train(run: Path, sets: list[str], resume: bool = False) -> subprocess.CompletedProcess:
    args = ["train", "--resume", str(run)] if resume else ["train", "-o", str(run)]
    if not resume:
        args += [a for s in sets for a in ("--set", s)]
    return subprocess.run(_cmd(*args, "-q"), capture_output=True, text=True, timeout=300)


def _checkpoint_step(run: Path) -> int:
    try:
        meta = json.loads((run / "checkpoints" / "last" / "state.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(meta["state"]["step"])


def _start_and_stop(run: Path, sets: list[str], sig: int, after_step: int) -> subprocess.Popen:
    """Start training and send ``sig`` once a checkpoint past ``after_step`` exists (mid-epoch:
    an epoch is 300 steps)."""
    args = _cmd("train", "-o", str(run), "-q", *[a for s in sets for a in ("--set", s)])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while _checkpoint_step(run) < after_step:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)
    os.kill(proc.pid, sig)
    proc.wait(timeout=120)
    return proc


def _results(run: Path) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("dev", "test"):
        for key in TIMING:
            metrics[split].pop(key, None)
    return {"dev": metrics["dev"], "test": metrics["test"], "steps": metrics["train"]["steps"]}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    sets = _data(tmp) + SETTINGS
    done = _train(tmp / "run", sets)
    assert done.returncode == 0, done.stderr
    return sets, tmp / "run"


@pytest.mark.slow
def test_kill9_mid_epoch_then_resume_is_identical(reference, tmp_path):
    sets, ref = reference
    run = tmp_path / "run"
    proc = _start_and_stop(run, sets, signal.SIGKILL, after_step=320)
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "metrics.json").exists()  # a killed run never looks finished
    state = json.loads((run / "checkpoints" / "last" / "state.json").read_text())["state"]
    assert 0 < state["batch_in_epoch"] < 300, state  # resumed from inside an epoch
    done = _train(run, sets, resume=True)
    assert done.returncode == 0, done.stderr
    assert _results(run) == _results(ref)
    assert (run / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_says_how_to_resume(reference, tmp_path):
    sets, ref = reference
    run = tmp_path / "run"
    proc = _start_and_stop(run, sets, signal.SIGTERM, after_step=100)
    err = proc.stderr.read()
    assert proc.returncode == 130, err
    assert "stopped by SIGTERM" in err and f"fenlei train --resume {run}" in err
    assert "Traceback" not in err
    assert "continue with" in (run / "FAILED").read_text()
    assert not (run / "metrics.json").exists()
    done = _train(run, sets, resume=True)
    assert done.returncode == 0, done.stderr
    assert not (run / "FAILED").exists()
    assert _results(run) == _results(ref)


def test_resume_with_a_different_config_is_refused(cli, tiny_data, tmp_path):
    from conftest import FAST

    sets = [f"data.{k}={v}" for k, v in tiny_data.items()] + FAST + ["model.name=fasttext"]
    run = tmp_path / "run"
    code, _, err = cli("train", "-o", str(run), "-q", *[a for s in sets for a in ("--set", s)])
    assert code == 0, err
    cfg = tmp_path / "other.yaml"
    cfg.write_text((run / "config.yaml").read_text().replace("lr: 0.001", "lr: 0.5"))
    code, _, err = cli("train", str(cfg), "--resume", str(run))
    assert code == 2 and "train.lr" in err
    code, _, err = cli("train", "--resume", str(tmp_path / "nothing"))
    assert code == 2 and "not a run to resume" in err
    # A finished run resumed with more epochs continues from its last checkpoint.
    code, out, err = cli("train", "--resume", str(run), "--set", "train.epochs=4", "-q")
    assert code == 0, err
    assert json.loads((run / "metrics.json").read_text())["train"]["epochs"] == 4


def test_deterministic_runs_repeat(cli, tiny_data, tmp_path):
    from conftest import FAST

    sets = [f"data.{k}={v}" for k, v in tiny_data.items()] + FAST
    sets += ["model.name=textrnn", "train.deterministic=true", "model.dropout=0.3"]
    results = []
    for name in ("a", "b"):
        code, _, err = cli(
            "train", "-o", str(tmp_path / name), "-q", *[a for s in sets for a in ("--set", s)]
        )
        assert code == 0, err
        results.append(_results(tmp_path / name))
    assert results[0] == results[1]


def _checkpoint(folder: Path, step: int) -> None:
    from fenlei import state_io

    folder.mkdir(parents=True)
    state_io.write_json(folder / "state.json", {"state": {"step": step}})


def test_a_kill_during_the_checkpoint_swap_leaves_one_readable_copy(tmp_path):
    from fenlei import state_io

    final = tmp_path / "last"
    _checkpoint(final, 1)
    _checkpoint(tmp_path / "last.tmp", 2)
    # killed after moving the old copy aside, before the new one took its name
    os.replace(final, tmp_path / "last.old")
    assert state_io.existing_dir(final, "state.json") == tmp_path / "last.old"
    state_io.replace_dir(tmp_path / "last.tmp", final)  # the next save finishes the swap
    assert state_io.existing_dir(final, "state.json") == final and not (tmp_path / "last.old").exists()
    # killed while writing a file of the new copy: the half-written temp file is not the copy
    (final / "state.json.tmp").write_text('{"state": {"st')
    found = state_io.existing_dir(final, "state.json")
    assert json.loads((found / "state.json").read_text())["state"]["step"] == 2


def test_a_damaged_checkpoint_is_a_clear_error(cli, tiny_data, tmp_path):
    from conftest import FAST

    sets = [f"data.{k}={v}" for k, v in tiny_data.items()] + FAST + ["model.name=fasttext"]
    run = tmp_path / "run"
    code, _, err = cli("train", "-o", str(run), "-q", *[a for s in sets for a in ("--set", s)])
    assert code == 0, err
    (run / "checkpoints" / "last" / "model.safetensors").write_bytes(b"\x00garbage")
    code, _, err = cli("train", "--resume", str(run), "--set", "train.epochs=4", "-q")
    assert code == 2 and "checkpoint cannot be read" in err and "Traceback" not in err
    assert not (run / "metrics.json").exists()
