"""``fenlei auto``: a winner in DIR/best that predicts as it is, every candidate on auto.html,
the budget kept, and the Pareto front."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from fenlei.errors import FenleiError
from fenlei.tuning.auto import run_auto
from fenlei.tuning.auto_report import pareto

pytestmark = pytest.mark.usefixtures("one_thread")
CHEAP = ["train.batch_size=16", "train.progress=false"]


@pytest.mark.report
def test_auto_picks_a_winner_that_predicts_and_keeps_the_budget(tiny_data, tmp_path):
    import fenlei

    lines: list[str] = []
    t0 = time.monotonic()
    result = run_auto(
        tiny_data["train"],
        tiny_data["dev"],
        tiny_data["test"],
        tmp_path / "auto",
        60,
        families=["tfidf", "fasttext"],
        sets=CHEAP,
        say=lines.append,
    )
    wall = time.monotonic() - t0
    assert wall < 60 * 1.1 + 15  # the budget, give or take the final copy and page on a busy machine
    families = {c.family for c in result.candidates}
    assert families == {"tfidf", "fasttext"}
    assert {c.source for c in result.candidates if c.family == "tfidf"} >= {"probe", "trial 0"}
    w = result.winner
    assert w is not None and w.dev == max(c.dev for c in result.candidates if not c.rejected)
    best = result.best_run
    assert (best / "report.html").is_file() and not (best / "checkpoints").exists()
    assert fenlei.load(best).predict(["a great film"])[0]["label"] in ("pos", "neg")
    page = (tmp_path / "auto" / "auto.html").read_text()
    assert "winner" in page and "Pareto" in page and "fasttext" in page
    assert any(line.startswith("profile: language en") for line in lines)
    assert any(line.startswith("best: ") for line in lines)
    loser = next(c for c in result.candidates if c.versus is not None)  # the other family's best run
    assert loser.family != w.family and 0 <= loser.versus["ahead"] <= 1 and loser.versus["n"] == 40
    assert any(line.startswith(f"  against {loser.family}") for line in lines)


def test_size_limit_rejects_every_candidate(tiny_data, tmp_path):
    lines: list[str] = []
    result = run_auto(
        tiny_data["train"],
        None,
        None,
        tmp_path / "a",
        20,
        families=["tfidf"],
        max_size_mb=1e-6,
        say=lines.append,
    )
    assert result.winner is None and result.best_run is None
    assert all(c.rejected for c in result.candidates)
    assert "no candidate finished within the limits" in lines[-1]


def test_unknown_family_is_a_config_error(tiny_data, tmp_path):
    with pytest.raises(FenleiError, match="unknown model .nope."):
        run_auto(tiny_data["train"], None, None, tmp_path / "a", 20, families=["nope"], say=lambda _: None)


def test_cli_auto_writes_best_and_page(tiny_data, tmp_path):
    out = tmp_path / "cli"
    cmd = [
        sys.executable,
        "-m",
        "fenlei",
        "auto",
        tiny_data["train"],
        "--test",
        tiny_data["test"],
        "-o",
        str(out),
    ]
    cmd += ["--time", "20s", "--family", "tfidf"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (out / "best" / "metrics.json").is_file() and (out / "auto.html").is_file()
    assert "best: tfidf" in done.stdout


def test_pareto_front():
    points = [(0.9, 10.0), (0.8, 100.0), (0.85, 50.0), (0.7, 40.0), (0.9, 5.0)]
    assert pareto(points) == [True, True, True, False, False]
