"""End to end through the CLI on tiny data: train, evaluate, predict, compare, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import FAST, make_sentiment, write_tsv


def _sets(*items):
    return [x for item in items for x in ("--set", item)]


def test_train_evaluate_predict(cli, tiny_data, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli(
        "train",
        "-o",
        str(run),
        *_sets(
            f"data.train={tiny_data['train']}",
            f"data.dev={tiny_data['dev']}",
            f"data.test={tiny_data['test']}",
            "model.name=textcnn",
            *FAST,
            "train.epochs=6",
            "train.lr=0.01",
            "train.tensorboard=true",
        ),
    )
    assert code == 0, err
    assert "test: accuracy" in out
    for name in (
        "config.yaml",
        "labels.json",
        "vocab.json",
        "tokenizer.json",
        "model.safetensors",
        "metrics.json",
        "history.csv",
        "predictions.tsv",
    ):
        assert (run / name).is_file(), name
    assert any((run / "tb").iterdir())
    assert not (run / "FAILED").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9
    for key in ("macro_f1", "mcc", "roc_auc"):
        assert key in metrics["test"]
    assert json.loads((run / "labels.json").read_text())["labels"] == ["neg", "pos"]

    code, out, err = cli("evaluate", str(run), "--data", tiny_data["test"])
    assert code == 0, err
    assert json.loads(out)["accuracy"] == pytest.approx(metrics["test"]["accuracy"])

    code, out, err = cli("predict", str(run), "a superb and lovely film", "awful boring plot", "--top-k", "2")
    assert code == 0, err
    lines = [json.loads(x) for x in out.strip().splitlines()]
    assert [x["label"] for x in lines] == ["pos", "neg"]
    assert len(lines[0]["top"]) == 2


def test_chinese_auto_char_tokenizer(cli, tiny_zh, tmp_path):
    run = tmp_path / "zh"
    code, out, err = cli(
        "train",
        "-o",
        str(run),
        *_sets(
            f"data.train={tiny_zh['train']}",
            f"data.test={tiny_zh['test']}",
            "model.name=fasttext",
            *FAST,
            "train.epochs=15",
            "train.lr=0.02",
        ),
    )
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["tokenizer"] == "char"
    assert metrics["test"]["accuracy"] > 0.8


def test_compare_table(cli, tiny_data, tmp_path):
    cfgs = []
    for name in ("fasttext", "textcnn"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"model:\n  name: {name}\n")
        cfgs.append(str(path))
    out_dir = tmp_path / "cmp"
    code, out, err = cli(
        "compare",
        *cfgs,
        "-o",
        str(out_dir),
        *_sets(
            f"data.train={tiny_data['train']}", f"data.test={tiny_data['test']}", *FAST, "train.report=false"
        ),
    )
    assert code == 0, err
    assert "fasttext" in out and "textcnn" in out
    data = json.loads((out_dir / "compare.json").read_text())
    assert [r["status"] for r in data["runs"]] == ["ok", "ok"]
    assert [m["name"] for m in data["models"]] == ["fasttext", "textcnn"]
    assert (out_dir / "compare.html").is_file()
    # the paired bootstrap column: the top model is "best", the other one tied, ahead or behind
    verdicts = sorted(m["vs_best"]["verdict"] for m in data["models"])
    assert verdicts[0] == "best" and verdicts[1] in ("ahead", "tie", "behind")
    assert "best vs this" in out


@pytest.mark.report
def test_compare_seeds_html_and_a_failing_run(cli, tiny_data, tmp_path):
    good = tmp_path / "fasttext.yaml"
    good.write_text("model:\n  name: fasttext\n")
    # Valid config, but the vectors file is missing: fails at run time, after config checks.
    bad = tmp_path / "broken.yaml"
    bad.write_text("model:\n  name: textcnn\n  vectors: /no/such/vectors.txt\n")
    out_dir = tmp_path / "cmp"
    code, out, err = cli(
        "compare",
        str(good),
        str(bad),
        "--seeds",
        "2",
        "-o",
        str(out_dir),
        *_sets(f"data.train={tiny_data['train']}", f"data.test={tiny_data['test']}", *FAST),
    )
    assert code == 1, err  # a failed run makes the exit code non-zero, after the rest finished
    data = json.loads((out_dir / "compare.json").read_text())
    runs = {(r["name"], r["seed"]): r for r in data["runs"]}
    assert set(runs) == {("fasttext", 1), ("fasttext", 2), ("broken", 1), ("broken", 2)}
    assert runs["fasttext", 2]["run_dir"].endswith("fasttext/seed-2")
    assert runs["broken", 1]["status"] == "failed" and "vectors.txt" in runs["broken", 1]["error"]
    accs = [runs["fasttext", s]["metrics"]["test"]["accuracy"] for s in (1, 2)]
    fast = next(m for m in data["models"] if m["name"] == "fasttext")
    assert fast["ok"] == 2 and fast["accuracy"] == pytest.approx(sum(accs) / 2)
    assert fast["accuracy_std"] == pytest.approx(abs(accs[0] - accs[1]) / 2**0.5)
    html = (out_dir / "compare.html").read_text(encoding="utf-8")
    for alt in ("Metric vs train time", "Metric per model", "Learning curves"):
        assert f'alt="{alt}" src="data:image/png;base64,' in html
    assert "Failed runs" in html and "vectors.txt" in html
    assert 'href="fasttext/seed-1/report.html"' in html
    assert (out_dir / "plots" / "metric_per_model.png").is_file()


def test_models_and_data_list(cli):
    code, out, _ = cli("models")
    assert code == 0
    for name in ("fasttext", "textcnn", "textrnn", "textrnn_att", "textrcnn", "dpcnn"):
        assert name in out
    code, out, _ = cli("data", "list")
    assert code == 0 and "rt-polarity" in out and "thucnews-10k" in out


# ---------------------------------------------------------------------------- bad input
def _train_expect_error(cli, tmp_path, train_path, *extra, needle):
    run = tmp_path / "bad-run"
    code, out, err = cli("train", "-o", str(run), *_sets(f"data.train={train_path}", *FAST, *extra))
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert needle.lower() in err.lower(), err
    assert not (run / "metrics.json").exists()
    return err


def test_missing_file(cli, tmp_path):
    _train_expect_error(cli, tmp_path, tmp_path / "nope.tsv", needle="nope.tsv")


def test_empty_file(cli, tmp_path):
    p = tmp_path / "empty.tsv"
    p.write_text("")
    _train_expect_error(cli, tmp_path, p, needle="empty")


def test_missing_column(cli, tmp_path):
    p = write_tsv(tmp_path / "cols.tsv", make_sentiment(20, 0), header=("label", "sentence"))
    _train_expect_error(cli, tmp_path, p, needle="data.text_column")


def test_ragged_row(cli, tmp_path):
    p = tmp_path / "ragged.tsv"
    p.write_text("label\ttext\npos\tgood film\nneg\tbad\tfilm\textra\npos\tfine\n")
    _train_expect_error(cli, tmp_path, p, needle="line 3")


def test_non_utf8(cli, tmp_path):
    p = tmp_path / "latin.tsv"
    rows = make_sentiment(20, 0)
    p.write_bytes(
        ("label\ttext\n" + "\n".join("\t".join(r) for r in rows[:5])).encode() + b"\npos\tcaf\xe9 good\n"
    )
    err = _train_expect_error(cli, tmp_path, p, needle="line 7")
    assert "data.encoding" in err


def test_unseen_label_error_and_skip(cli, tmp_path, tiny_data):
    rows = make_sentiment(40, 1) + [("neutral", "the film is a film")]
    dev = write_tsv(tmp_path / "dev.tsv", rows)
    _train_expect_error(cli, tmp_path, tiny_data["train"], f"data.dev={dev}", needle="neutral")
    run = tmp_path / "skip"
    code, out, err = cli(
        "train",
        "-o",
        str(run),
        *_sets(f"data.train={tiny_data['train']}", f"data.dev={dev}", "data.unseen_labels=skip", *FAST),
    )
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["skipped"]["dev_unseen_label"] == 1


def test_single_class(cli, tmp_path):
    p = write_tsv(tmp_path / "one.tsv", [("pos", "good film")] * 10)
    _train_expect_error(cli, tmp_path, p, needle="one class")


def test_empty_texts_are_skipped_and_counted(cli, tmp_path):
    rows = make_sentiment(60, 0) + [("pos", ""), ("neg", "   ")]
    p = write_tsv(tmp_path / "gaps.tsv", rows)
    run = tmp_path / "gaps"
    code, _, err = cli("train", "-o", str(run), *_sets(f"data.train={p}", *FAST))
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["skipped"]["train_empty_text"] == 2


def test_unknown_model_lists_known(cli, tmp_path, tiny_data):
    err = _train_expect_error(cli, tmp_path, tiny_data["train"], "model.name=bert9", needle="bert9")
    assert "textcnn" in err


def test_wrong_config_type(cli, tmp_path, tiny_data):
    _train_expect_error(cli, tmp_path, tiny_data["train"], "train.batch_size=big", needle="train.batch_size")


def test_crlf_and_bom_just_work(cli, tmp_path):
    rows = make_sentiment(60, 0)
    text = "label\ttext\r\n" + "\r\n".join("\t".join(r) for r in rows) + "\r\n"
    p = tmp_path / "crlf.tsv"
    p.write_bytes(b"\xef\xbb\xbf" + text.encode())
    run = tmp_path / "crlf"
    code, _, err = cli("train", "-o", str(run), *_sets(f"data.train={p}", *FAST))
    assert code == 0, err
    assert json.loads((run / "labels.json").read_text())["labels"] == ["neg", "pos"]


def test_existing_run_dir_is_not_overwritten(cli, tmp_path, tiny_data):
    run = tmp_path / "twice"
    args = ("train", "-o", str(run), *_sets(f"data.train={tiny_data['train']}", *FAST, "train.epochs=1"))
    assert cli(*args)[0] == 0
    code, _, err = cli(*args)
    assert code == 2 and "already holds a run" in err


def test_predict_on_missing_run(cli, tmp_path):
    code, _, err = cli("predict", str(tmp_path / "none"), "hello")
    assert code == 2 and "not found" in err


def test_predict_on_a_run_trained_with_vectors(cli, tiny_data, tmp_path):
    """The embedding width comes from the vectors (10 here), not model.embed_dim: predict must
    rebuild the model that way and reproduce the test probabilities train wrote."""
    from conftest import FILL, NEG, POS

    rng = np.random.default_rng(0)
    words = sorted(set(POS + NEG + FILL))
    vec = tmp_path / "vec.txt"
    vec.write_text(
        f"{len(words)} 10\n"
        + "".join(w + " " + " ".join(f"{x:.4f}" for x in rng.normal(size=10)) + "\n" for w in words)
    )
    run = tmp_path / "run"
    sets = [f"data.train={tiny_data['train']}", f"data.test={tiny_data['test']}", "model.name=textcnn"]
    sets += [f"model.vectors={vec}", "model.static_copy=true", *FAST]
    code, _, err = cli("train", "-o", str(run), "--quiet", *_sets(*sets))
    assert code == 0, err
    rows = [line.split("\t") for line in (run / "predictions.tsv").read_text().splitlines()[1:]]
    code, out, err = cli("predict", str(run), *[r[0] for r in rows[:5]], "--backend", "torch")
    assert code == 0, err
    for line, row in zip(out.splitlines(), rows, strict=False):
        assert json.loads(line)["probability"] == pytest.approx(float(row[3]), abs=1e-5)
    # auto may be bf16 (a CPU with AMX): the same answers, probabilities to about 1e-2
    code, out, err = cli("predict", str(run), *[r[0] for r in rows[:5]])
    assert code == 0, err
    for line, row in zip(out.splitlines(), rows, strict=False):
        assert json.loads(line)["probability"] == pytest.approx(float(row[3]), abs=2e-2)
