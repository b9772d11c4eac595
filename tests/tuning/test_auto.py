"""``fenlei auto``: a winner in DIR/best that predicts as it is, every candidate on auto.html,
the budget kept, and the Pareto front."""

from __future__ import annotations

import json
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
    assert "winner" in page and "fasttext" in page  # (which runs are on the Pareto front: test_pareto_front)
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
    summary = json.loads((out / "auto.json").read_text())
    assert summary["winner"]["family"] == "tfidf" and summary["best_run"] == str(out / "best")
    assert summary["candidates"] and all("dev" in c for c in summary["candidates"])


def test_pareto_front():
    points = [(0.9, 10.0), (0.8, 100.0), (0.85, 50.0), (0.7, 40.0), (0.9, 5.0)]
    assert pareto(points) == [True, True, True, False, False]


def test_the_pretrained_family_gets_its_time_set_aside_first(tiny_data, tmp_path, monkeypatch):
    """The last family (pretrained) is timed before the cheap ones run, and what its epochs need
    is kept out of their shares, so they cannot leave it too little for one epoch."""
    import fenlei.tuning.auto as auto_mod

    timed, probes = [], []

    def fake_time_epoch(sets, splits, run_dir, cls, say, limit_s=None):
        timed.append(cls.__name__)
        return (10.0, 2.0) if cls.pretrained_weights else (1.0, 1.0)

    def fake_probe(sets, run_dir, family, deadline, limits, say):
        epochs = [s for s in sets if s.startswith("train.epochs")]
        probes.append((family, deadline - time.monotonic(), epochs))
        return None  # as if it could not train: nothing to tune, no winner

    monkeypatch.setattr(auto_mod, "time_epoch", fake_time_epoch)
    monkeypatch.setattr(auto_mod, "_probe", fake_probe)
    run_auto(
        tiny_data["train"], None, None, tmp_path / "a", 100,
        families=["fasttext", "transformer"], say=lambda _: None,
    )  # fmt: skip
    assert timed == ["Transformer", "FastText"]  # the encoder first
    (f_name, f_cap, _), (t_name, t_cap, t_epochs) = probes
    epochs = auto_mod._epochs(["model.name=transformer", "train.epochs=3"])  # auto_sets' epochs
    reserve = 2.0 + 10.0 * min(epochs, 6)  # the epochs that fit in 70% of the 95 s: (66.5 - 2) // 10
    assert f_name == "fasttext" and f_cap == pytest.approx((95 - reserve) / 2, abs=1.5)
    assert t_name == "transformer" and t_cap >= reserve - 1.5 and t_epochs == ["train.epochs=3"]  # not cut


def test_the_users_settings_win_over_autos_choices(tiny_data, tmp_path, monkeypatch):
    import fenlei.tuning.auto as auto_mod

    seen = []
    monkeypatch.setattr(auto_mod, "time_epoch", lambda sets, *a: seen.append(sets) or None)
    run_auto(
        tiny_data["train"], None, None, tmp_path / "a", 30,
        families=["transformer"], sets=["model.pretrained=my-encoder"], say=lambda _: None,
    )  # fmt: skip
    pretrained = [s for s in seen[0] if s.startswith("model.pretrained=")]
    assert pretrained == ["model.pretrained=my-encoder"]


def test_e5_for_chinese_as_its_recipe_has_it():
    from fenlei.models import model_class

    sets = model_class("transformer").auto_sets("zh")
    assert "model.pretrained=e5-small-multilingual" in sets and "model.freeze_embeddings=true" in sets
    en = model_class("transformer").auto_sets("en")
    assert en[0] == "model.pretrained=minilm-l6" and "optim.name=adamw" in en and "train.epochs=3" in en


def test_english_word_families_start_from_the_packaged_glove():
    from fenlei.models import model_class

    for name in ("textcnn", "textrnn"):
        assert model_class(name).auto_sets("en") == ["model.vectors=glove-6b-50d"]
        assert model_class(name).auto_sets("zh") == []  # no packaged Chinese vectors
    assert model_class("fasttext").auto_sets("en") == [] and model_class("tfidf").auto_sets("en") == []
