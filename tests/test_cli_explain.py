"""``fenlei explain``: texts from arguments, a file or stdin; the HTML page; faithfulness."""

from __future__ import annotations

import io
import json
import sys

import pytest

from conftest import write_tsv
from explain_fakes import KeywordExplainer


@pytest.fixture
def fake(monkeypatch):
    """``fenlei explain`` on the keyword model instead of a trained run."""
    import fenlei.inference as inference
    from fenlei.config import load_config

    model = KeywordExplainer()
    model.config = load_config(None, [])
    monkeypatch.setattr(inference, "load", lambda run_dir, backend="torch", device="cpu": model)
    return model


def test_explain_texts_to_terminal_html_and_json(cli, fake, tmp_path):
    page, out_json = tmp_path / "x.html", tmp_path / "x.json"
    code, out, err = cli(
        "explain",
        str(tmp_path),
        "a great film",
        "dull <b>plot</b>",
        "--html",
        str(page),
        "--json",
        str(out_json),
    )
    assert code == 0, err
    assert "label pos  p=0.881" in out and "  for     great +2.000" in out
    assert "label neg" in out and "  for     dull +2.000" in out
    html = page.read_text()
    assert (
        html.startswith("<!doctype html>") and "&lt;b&gt;plot&lt;/b&gt;" in html and 'title="+2.0000"' in html
    )
    body = json.loads(out_json.read_text())
    assert [e["label"] for e in body] == ["pos", "neg"] and body[0]["tokens"][1]["token"] == "great"
    code, out, err = cli("explain", str(tmp_path), "a great film", "--label", "neg", "--top", "1")
    assert (
        code == 0
        and "label neg  p=0.119  (predicted pos)  exact-linear" in out
        and "  against great -2.000" in out
    )


def test_explain_reads_stdin_and_files(cli, fake, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("superb\nawful\n"))
    code, out, _ = cli("explain", str(tmp_path), "-")
    assert code == 0 and out.count("label ") == 2 and "label neg" in out
    f = tmp_path / "texts.txt"
    f.write_text("lovely\n", encoding="utf-8")
    code, out, _ = cli("explain", str(tmp_path), "--file", str(f))
    assert code == 0 and out.count("label pos") == 1


def test_explain_errors_are_one_line(cli, fake, tmp_path):
    code, _, err = cli("explain", str(tmp_path), "fine", "--label", "meh")
    assert code == 2 and "neg, pos" in err and "Traceback" not in err
    code, _, err = cli("explain", str(tmp_path), "--faithfulness")
    assert code == 2 and "needs --data" in err
    code, _, err = cli("explain", str(tmp_path), "--data", str(tmp_path / "x.tsv"))
    assert code == 2 and "--file" in err
    fake.explain = None
    code, _, err = cli("explain", str(tmp_path), "fine")
    assert code == 2 and "cannot explain" in err


def test_faithfulness_table_json_and_run_record(cli, fake, tmp_path):
    rows = [
        ("pos" if i % 2 else "neg", f"the {'great' if i % 2 else 'dull'} film number {i}") for i in range(40)
    ]
    data = write_tsv(tmp_path / "test.tsv", rows)
    out_json = tmp_path / "f.json"
    code, out, err = cli(
        "explain", str(tmp_path), "--data", data, "--faithfulness", "--samples", "20", "--json", str(out_json)
    )
    assert code == 0, err
    assert "comprehensiveness" in out and "20%" in out and "ms per text explained" in out
    body = json.loads(out_json.read_text())
    assert body["texts"] == 20 and body["comprehensiveness"]["0.2"] > body["comprehensiveness_random"]["0.2"]
    from fenlei.rundir import FAITHFULNESS, RunDir

    assert RunDir(tmp_path).read_json(FAITHFULNESS)["data"] == data


def test_explain_a_real_run(cli, served_runs, tmp_path):
    """A trained fasttext run: integrated gradients, the sentiment word on top, faithful beyond random."""
    run = served_runs["sentiment"]
    code, out, err = cli(
        "explain", run, "the plot was superb", "--top", "1", "--json", str(tmp_path / "e.json")
    )
    assert code == 0, err
    exp = json.loads((tmp_path / "e.json").read_text())[0]
    assert exp["label"] == "pos" and exp["method"] == "integrated-gradients"
    assert "  for     superb" in out
    from conftest import make_sentiment

    data = write_tsv(tmp_path / "test.tsv", make_sentiment(60, 7))
    code, out, err = cli("explain", run, "--data", data, "--faithfulness", "--samples", "40")
    assert code == 0, err
    from fenlei.rundir import FAITHFULNESS, RunDir

    f = RunDir(run).read_json(FAITHFULNESS)
    assert f["texts"] == 40 and f["comprehensiveness"]["0.2"] > f["comprehensiveness_random"]["0.2"]
    code, _, err = cli("explain", run, "fine", "--label", "meh")
    assert code == 2 and "neg, pos" in err
