"""The run directory: preparing, marking failed or finished, and what a Predictor needs."""

from __future__ import annotations

import pytest

from fenlei import rundir
from fenlei.errors import FenleiError, RunDirError
from fenlei.rundir import RunDir


def test_a_new_run_refuses_a_finished_or_started_one(tmp_path):
    rd = RunDir(tmp_path / "run")
    rd.prepare(resume=False)
    assert rd.path.is_dir() and not rd.finished
    rd.finish({"dev": {"accuracy": 1.0}})
    assert rd.finished and rd.read_metrics()["dev"]["accuracy"] == 1.0
    with pytest.raises(FenleiError, match="already holds a run"):
        RunDir(rd.path).prepare(resume=False)
    with pytest.raises(FenleiError, match="no checkpoints to resume from"):
        RunDir(tmp_path / "other").prepare(resume=True)


def test_resume_clears_the_marks_of_an_interrupted_run(tmp_path):
    rd = RunDir(tmp_path)
    (tmp_path / rundir.CHECKPOINTS).mkdir()
    rd.mark_failed("stopped")
    assert (tmp_path / rundir.FAILED).read_text() == "stopped\n"
    rd.prepare(resume=True)
    assert not (tmp_path / rundir.FAILED).exists()


def test_a_file_is_not_a_run_directory(tmp_path):
    path = tmp_path / "taken.txt"
    path.write_text("x")
    with pytest.raises(FenleiError, match="names a file"):
        RunDir(path).prepare(resume=False)


def test_predictor_files_are_named_when_missing(tmp_path):
    with pytest.raises(RunDirError, match="run directory not found"):
        RunDir(tmp_path / "none").check_predictable()
    (tmp_path / rundir.CONFIG).write_text("{}")
    RunDir(tmp_path).mark_failed("x")
    with pytest.raises(
        RunDirError, match=r"missing labels.json, model.safetensors \(training did not finish\)"
    ):
        RunDir(tmp_path).check_predictable()


def test_record_needs_a_finished_run_and_copy_leaves_scratch_out(tmp_path):
    rd = RunDir(tmp_path / "run")
    rd.prepare(resume=False)
    with pytest.raises(FenleiError, match="not a finished run"):
        rd.record()
    (rd.path / rundir.LABELS).write_text('{"labels": ["a", "b"]}')
    (rd.path / rundir.CHECKPOINTS).mkdir()
    rd.finish({"dev": {}})
    record = rd.record()
    assert record.labels == ["a", "b"] and record.split == "dev" and record.predictions is None
    copy = rd.copy_to(tmp_path / "copy")
    assert (copy / rundir.METRICS).is_file() and not (copy / rundir.CHECKPOINTS).exists()
    with pytest.raises(FenleiError, match="not empty"):
        rd.copy_to(copy)
