"""A whole audit on tiny planted-noise data (tfidf: a closed-form fit per fold, about a second)."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from conftest import make_flipped, write_tsv
from fenlei.auditing import layout
from fenlei.errors import FenleiError

TFIDF = ["model.name=tfidf"]


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """(result, flipped row indices, train file) of one 5-fold audit with --apply."""
    import fenlei

    d = tmp_path_factory.mktemp("audit")
    rows, flipped = make_flipped(200, 10, seed=0)
    assert 6 not in flipped and rows[6][0] == "fruit"
    rows.insert(7, ("tool", rows[6][1].upper() + "!"))  # row 6 again, wrongly labelled: a conflict
    flipped = [i + 1 if i >= 7 else i for i in flipped] + [7]
    train = write_tsv(d / "train.tsv", rows)
    sets = [f"data.train={train}", *TFIDF]
    result = fenlei.audit(None, folds=5, output=d / "out", apply=True, sets=sets, quiet=True)
    return result, sorted(flipped), train


def test_finds_the_planted_flips(audited):
    result, flipped, _ = audited
    top = set(result.ranked[: len(flipped)])
    assert len(top & set(flipped)) >= 0.8 * len(flipped)
    assert len(result.suspects) >= 5 and set(result.suspects) <= set(flipped)  # flagged: precise
    assert result.ranked[: len(result.suspects)] == result.suspects
    assert 0.02 < result.noise_rate < 0.15
    assert result.probs.shape == (201, 2) and not np.isnan(result.probs).any()
    assert [f.fold for f in result.folds] == [1, 2, 3, 4, 5]
    assert all(f.train + f.held_out == 201 for f in result.folds)


def test_files(audited):
    result, flipped, _ = audited
    out = result.out_dir
    for name in (layout.SUSPECTS, layout.CONFLICTS, layout.REPORT, layout.SUMMARY, layout.CLEANED):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / layout.FOLDS).iterdir()) == ["1", "2", "3", "4", "5"]
    with open(out / layout.SUSPECTS, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert len(rows) == len(result.suspects)
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores)
    first = result.suspects[0]
    assert rows[0]["text"] == result.texts[first] and int(rows[0]["line"]) == first + 2  # header, 1-based
    assert rows[0]["given"] != rows[0]["predicted"]
    summary = json.loads((out / layout.SUMMARY).read_text())
    assert summary["finished"] and summary["flagged"] == len(result.suspects)
    assert [c["label"] for c in summary["classes"]] == ["fruit", "tool"]
    html = (out / layout.REPORT).read_text()
    for part in ("Confident joint", "Top ", "estimated share of wrong labels", result.command.split()[0]):
        assert part in html


def test_conflicts_tsv(audited):
    result, _, _ = audited
    exact = [c for c in result.conflicts if c.kind == "exact"]
    assert [c.rows for c in exact] == [[6, 7]]
    lines = (result.out_dir / layout.CONFLICTS).read_text().splitlines()
    assert lines[0].split("\t") == ["group", "kind", "similarity", "label", "text", "line"]
    assert len(lines) == 1 + sum(len(c.rows) for c in result.conflicts)


def test_apply_writes_a_file_the_readers_take(audited):
    from fenlei.config import load_config
    from fenlei.data.loading import load_splits

    result, _, train = audited
    cleaned = result.out_dir / layout.CLEANED
    assert result.removed == len(result.suspects)
    splits = load_splits(load_config(None, [f"data.train={cleaned}"]).data)
    assert len(splits.train) + len(splits.dev) == 201 - result.removed
    kept = set(splits.train.texts) | set(splits.dev.texts)
    assert not kept & {result.texts[i] for i in result.suspects if result.texts.count(result.texts[i]) == 1}
    assert f"--set data.train={cleaned}" in result.command
    assert result.command.startswith("fenlei train --set model.name=tfidf")
    assert f"data.train={train}" not in result.command


def test_a_rerun_reuses_the_folds_and_another_config_is_refused(audited, capsys):
    import fenlei

    result, _, train = audited
    sets = [f"data.train={train}", *TFIDF]
    again = fenlei.audit(None, folds=5, output=result.out_dir, sets=sets)
    out = capsys.readouterr().out
    assert out.count("reusing the finished run") == 5
    assert again.suspects == result.suspects
    with pytest.raises(FenleiError, match="holds an audit of another config"):
        fenlei.audit(None, folds=3, output=result.out_dir, sets=sets, quiet=True)


def test_bad_input(tmp_path):
    import fenlei

    rows = [("a", f"alpha text {i}") for i in range(12)] + [("b", f"beta text {i}") for i in range(3)]
    train = write_tsv(tmp_path / "t.tsv", rows)
    sets = [f"data.train={train}", *TFIDF]
    with pytest.raises(FenleiError, match=r"class 'b' has 3 texts, fewer than --folds 5; give --folds 3"):
        fenlei.audit(None, folds=5, output=tmp_path / "o", sets=sets, quiet=True)
    with pytest.raises(FenleiError, match="at least 2 folds"):
        fenlei.audit(None, folds=1, output=tmp_path / "o", sets=sets, quiet=True)
    with pytest.raises(FenleiError, match="fenlei audit checks single-label data"):
        fenlei.audit(None, folds=2, output=tmp_path / "o", sets=[*sets, "data.multi_label=true"], quiet=True)
    with pytest.raises(FenleiError, match="--rank-by nope"):
        fenlei.audit(None, output=tmp_path / "o", sets=sets, rank_by="nope", quiet=True)
    assert not (tmp_path / "o").exists()  # nothing is written before the checks pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_output_dir_that_is_not_writable(tmp_path):
    import fenlei

    rows, _ = make_flipped(40, 0)
    train = write_tsv(tmp_path / "t.tsv", rows)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(FenleiError, match="cannot write there"):
            fenlei.audit(
                None, folds=2, output=locked / "out", sets=[f"data.train={train}", *TFIDF], quiet=True
            )
    finally:
        locked.chmod(0o700)


def test_an_output_under_a_file(tmp_path):
    import fenlei

    rows, _ = make_flipped(40, 0)
    train = write_tsv(tmp_path / "t.tsv", rows)
    with pytest.raises(FenleiError, match=r"-o .*cannot write there"):
        fenlei.audit(None, folds=2, output=tmp_path / "t.tsv" / "out", sets=[f"data.train={train}", *TFIDF])


def test_an_interrupted_fold_says_how_to_go_on(tmp_path, monkeypatch):
    import fenlei
    import fenlei.training.pipeline as pipeline
    from fenlei.errors import TrainingInterrupted

    def stop(*args, **kwargs):
        raise TrainingInterrupted("stopped by SIGINT")

    monkeypatch.setattr(pipeline, "train", stop)
    rows, _ = make_flipped(40, 0)
    train = write_tsv(tmp_path / "t.tsv", rows)
    with pytest.raises(TrainingInterrupted, match=r"fold 1/2; run the same command to go on"):
        fenlei.audit(None, folds=2, output=tmp_path / "o", sets=[f"data.train={train}", *TFIDF], quiet=True)
