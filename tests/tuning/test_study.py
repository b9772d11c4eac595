"""``fenlei tune``: a real (tiny) search, its resumption after SIGKILL and Ctrl-C, workers that
share one study, and the user errors it must name."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fenlei.errors import ConfigError, FenleiError
from fenlei.tuning.study import BEST_CONFIG, STUDY_DB, TuneOptions, run_tune

pytestmark = pytest.mark.usefixtures("one_thread")

# fasttext at its smallest: a trial costs about a second
TINY = [
    "model.name=fasttext",
    "model.buckets=1000",
    "train.batch_size=16",
    "train.progress=false",
    "tune.keys=[train.lr, model.dropout, train.epochs]",
    "tune.space.train.epochs=[1, 3]",
]


def sets(data: dict) -> list[str]:
    return [f"data.train={data['train']}", f"data.dev={data['dev']}", f"data.test={data['test']}", *TINY]


def tune_cmd(data: dict, out: Path, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "fenlei", "tune", "-o", str(out)]
    for item in sets(data):
        cmd += ["--set", item]
    return cmd + list(extra)


def finished_trials(db: Path) -> list[int]:
    """Numbers of the COMPLETE or PRUNED trials in an Optuna SQLite study."""
    try:
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT number FROM trials WHERE state IN ('COMPLETE', 'PRUNED')").fetchall()
    except sqlite3.OperationalError:  # the file exists before Optuna has made its tables
        return []
    return sorted(r[0] for r in rows)


def study_value(out: Path, number: int) -> float:
    with sqlite3.connect(out / STUDY_DB) as con:
        return con.execute(
            "SELECT v.value FROM trials t JOIN trial_values v ON t.trial_id = v.trial_id WHERE t.number = ?",
            (number,),
        ).fetchone()[0]


def wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.report
def test_tune_runs_trials_and_writes_best_config_and_page(tiny_data, tmp_path):
    out = tmp_path / "study"
    lines: list[str] = []
    result = run_tune(None, sets(tiny_data), out, TuneOptions(time_s=300, trials=3), say=lines.append)
    assert finished_trials(out / STUDY_DB) == [0, 1, 2]
    assert result.best_value is not None and 0.5 < result.best_value <= 1.0
    best = (out / BEST_CONFIG).read_text()
    for item in result.best_overrides:  # the sampled values are in the written config
        key, value = item.split("=", 1)
        assert key.split(".")[-1] in best
    assert (result.best_run / "report.html").is_file()  # only the winner gets a report
    assert sum((out / "trials" / d / "report.html").is_file() for d in os.listdir(out / "trials")) == 1
    page = (out / "tune.html").read_text()
    assert "Trials" in page and "Best config" in page
    assert any(line.startswith("best: trial") for line in lines)
    # the three trials trained again with two more seeds; the winner is chosen on the mean
    confirm = json.loads((out / "tune.json").read_text())["confirm"]
    assert sorted(confirm) == ["0", "1", "2"] and all(len(v) == 2 for v in confirm.values())
    assert len(os.listdir(out / "confirm")) == 6
    means = {int(k): (v + [study_value(out, int(k))]) for k, v in confirm.items()}
    assert result.best_value == pytest.approx(max(sum(v) / 3 for v in means.values()))


def test_size_limit_rejects_trials_and_no_winner_is_said(tiny_data, tmp_path):
    out = tmp_path / "study"
    lines: list[str] = []
    result = run_tune(
        None, sets(tiny_data), out, TuneOptions(time_s=300, trials=2, max_size_mb=0.001), say=lines.append
    )
    assert result.best_run is None and result.counts["rejected"] == 2
    assert any("rejected:" in line and "--max-size" in line for line in lines)
    assert not (out / BEST_CONFIG).exists()


def test_refit_trains_the_best_config_on_train_plus_dev(tiny_data, tmp_path):
    out = tmp_path / "study"
    result = run_tune(
        None, sets(tiny_data), out, TuneOptions(time_s=300, trials=2, refit=True), say=lambda _: None
    )
    metrics = json.loads((result.refit_run / "metrics.json").read_text())
    assert metrics["data"]["train"] == 160 + 40  # train + dev


def test_killed_search_resumes_with_its_finished_trials(tiny_data, tmp_path):
    out = tmp_path / "study"
    db = out / STUDY_DB
    proc = subprocess.Popen(tune_cmd(tiny_data, out, "--trials", "4"), stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: db.is_file() and len(finished_trials(db)) >= 2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    kept = finished_trials(db)
    assert len(kept) >= 2
    done = subprocess.run(tune_cmd(tiny_data, out, "--trials", "4"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    after = finished_trials(db)
    assert set(kept) <= set(after) and len(after) == 4  # the old trials count; only the rest ran
    with sqlite3.connect(db) as con:  # the trial the kill interrupted is marked failed, not left running
        running = con.execute(
            "SELECT COUNT(*) FROM trials t JOIN trial_user_attributes a ON t.trial_id = a.trial_id "
            "WHERE t.state = 'RUNNING' AND a.key = 'worker'"
        ).fetchone()[0]
    # (a kill inside study.ask, before the trial is tagged with its worker, leaves it running:
    # no process can tell that trial is dead rather than another worker's)
    assert running == 0


def test_two_workers_share_one_study(tiny_data, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    first = subprocess.run(
        tune_cmd(tiny_data, tmp_path / "a", "--trials", "2", "--storage", storage),
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stderr
    # The second worker sees the first one's two trials: it runs only two more.
    second = subprocess.run(
        tune_cmd(tiny_data, tmp_path / "b", "--trials", "4", "--storage", storage),
        capture_output=True,
        text=True,
    )
    assert second.returncode == 0, second.stderr
    assert finished_trials(tmp_path / "shared.db") == [0, 1, 2, 3]
    assert len(os.listdir(tmp_path / "a" / "trials")) == 2 and len(os.listdir(tmp_path / "b" / "trials")) == 2
    # ... and both at once: every trial number once, both finish.
    procs = [
        subprocess.Popen(
            tune_cmd(tiny_data, tmp_path / w, "--trials", "8", "--storage", storage),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in ("c", "d")
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    numbers = finished_trials(tmp_path / "shared.db")
    assert len(numbers) >= 8 and len(set(numbers)) == len(numbers)


def test_ctrl_c_keeps_finished_trials_and_the_same_command_continues(tiny_data, tmp_path):
    out = tmp_path / "study"
    db = out / STUDY_DB
    proc = subprocess.Popen(
        tune_cmd(tiny_data, out, "--trials", "3"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: db.is_file() and len(finished_trials(db)) >= 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err
    kept = finished_trials(db)
    done = subprocess.run(tune_cmd(tiny_data, out, "--trials", "3"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert set(kept) <= set(finished_trials(db)) and len(finished_trials(db)) == 3


def test_budget_too_small_for_one_trial_names_what_fits(tiny_data, tmp_path):
    slow = [*sets(tiny_data), "tune.space.train.epochs=200", "tune.keys=[train.epochs]"]
    with pytest.raises(FenleiError, match=r"too small for one trial of fasttext .*about \d+"):
        run_tune(None, slow, tmp_path / "s", TuneOptions(time_s=2), say=lambda _: None)


@pytest.mark.parametrize(
    ("extra", "opts", "needle"),
    [
        (["tune.space.model.nonsense=3"], {}, "not in this model's search space"),
        ([], {"metric": "hamming_loss"}, "hamming_loss"),
        ([], {"metric": "speed"}, "train.metric"),
    ],
)
def test_bad_search_input_is_one_clear_error(tiny_data, tmp_path, extra, opts, needle):
    with pytest.raises(ConfigError) as err:
        run_tune(
            None,
            [*sets(tiny_data), *extra],
            tmp_path / "s",
            TuneOptions(time_s=60, **opts),
            say=lambda _: None,
        )
    assert needle in str(err.value)
    assert not (tmp_path / "s" / STUDY_DB).exists()


def test_unwritable_output_or_storage_is_named(tiny_data, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(FenleiError, match="cannot write there"):
        run_tune(None, sets(tiny_data), blocker / "study", TuneOptions(time_s=60), say=lambda _: None)
    bad = f"sqlite:///{blocker}/sub/study.db"
    with pytest.raises(FenleiError, match="--storage"):
        run_tune(
            None, sets(tiny_data), tmp_path / "ok", TuneOptions(time_s=60, storage=bad), say=lambda _: None
        )


def test_a_study_refuses_another_search(tiny_data, tmp_path):
    out = tmp_path / "study"
    run_tune(None, sets(tiny_data), out, TuneOptions(time_s=300, trials=1), say=lambda _: None)
    with pytest.raises(FenleiError, match="holds trials of another config"):
        run_tune(
            None,
            [*sets(tiny_data), "train.seed=7"],
            out,
            TuneOptions(time_s=300, trials=1),
            say=lambda _: None,
        )


def test_python_api_returns_the_best_run(tiny_data, tmp_path):
    import fenlei

    result = fenlei.tune(output=tmp_path / "s", time="5m", trials=2, sets=sets(tiny_data), quiet=True)
    assert result is not None and result.best_run.is_dir()
    assert fenlei.load(result.best_run).predict(["a great film"])[0]["label"] in ("pos", "neg")


def test_the_first_trial_is_the_recipe_itself(tiny_data, tmp_path):
    import optuna

    out = tmp_path / "s"
    run_tune(
        None, [*sets(tiny_data), "train.lr=0.004"], out, TuneOptions(time_s=300, trials=1), say=lambda _: None
    )
    first = optuna.load_study(study_name="fenlei", storage=f"sqlite:///{out / STUDY_DB}").trials[0]
    # the recipe's lr and fasttext's default dropout; its 10 epochs lie outside [1, 3], so sampled
    assert first.params["train.lr"] == 0.004 and first.params["model.dropout"] == 0.0
    assert 1 <= first.params["train.epochs"] <= 3
