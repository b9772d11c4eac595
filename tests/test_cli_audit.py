"""``fenlei audit`` end to end through the CLI on tiny planted-noise data."""

from __future__ import annotations

import json

from conftest import make_flipped, write_tsv


def test_audit_command(cli, tmp_path):
    rows, flipped = make_flipped(120, 6, seed=1)
    train = write_tsv(tmp_path / "train.tsv", rows)
    config = tmp_path / "tfidf.yaml"
    config.write_text(f"data:\n  train: {train}\nmodel:\n  name: tfidf\n", encoding="utf-8")
    out = tmp_path / "audit"
    code, stdout, err = cli("audit", str(config), "--folds", "3", "-o", str(out), "--apply")
    assert code == 0, err
    for k in (1, 2, 3):
        assert f"fold {k}/3: training on" in stdout
    assert "flagged " in stdout and "estimated share of wrong labels" in stdout
    assert f"fenlei train {config} --set data.train={out / 'train.cleaned.tsv'}" in stdout
    summary = json.loads((out / "audit.json").read_text())
    assert summary["folds"] == 3 and summary["removed"] == summary["flagged"] > 0
    suspects = (out / "suspects.tsv").read_text().splitlines()
    assert suspects[0].startswith("text\tgiven\tpredicted\tscore")
    lines = {int(row.split("\t")[-1]) - 2 for row in suspects[1:]}  # file line -> row index
    assert len(lines & set(flipped)) >= len(lines) * 0.8

    # the cleaned file trains as the printed command says
    code, stdout, err = cli("train", str(config), "--set", f"data.train={out / 'train.cleaned.tsv'}",
                            "-o", str(tmp_path / "clean-run"), "--quiet")  # fmt: skip
    assert code == 0, err


def test_audit_errors_are_one_line(cli, tmp_path):
    rows = [("a", f"alpha {i}") for i in range(10)] + [("b", "beta one"), ("b", "beta two")]
    train = write_tsv(tmp_path / "train.tsv", rows)
    code, _, err = cli("audit", "--set", f"data.train={train}", "-o", str(tmp_path / "o"))
    assert code == 2
    assert err.strip() == (
        f"error: {train}: class 'b' has 2 texts, fewer than --folds 5; give --folds 2 (the most that works "
        "here) or fewer, or add texts of 'b'"
    )
    code, _, err = cli("audit", "--set", f"data.train={train}", "-o", str(tmp_path / "o"), "--folds", "1")
    assert code == 2 and "at least 2 folds" in err
