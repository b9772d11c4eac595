"""Run reports: train writes report.html with every section, plots/ holds the PNGs, and
`fenlei report` rebuilds it; calibration figures checked by hand."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from conftest import FAST
from fenlei.evaluation.calibration import reliability
from fenlei.evaluation.report import SECTIONS

pytestmark = pytest.mark.report

ROOT = Path(__file__).resolve().parents[2]
PLOTS = ("learning_curves", "confusion_matrix", "per_class", "roc_pr", "calibration", "mcc_per_batch")


class _Page(HTMLParser):
    """Section ids, embedded images and table cells of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: dict[str, bytes] = {}
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a["id"])
        elif tag == "img":
            assert a["src"].startswith("data:image/png;base64,"), "images must be embedded"
            self.images[a["alt"]] = base64.b64decode(a["src"].split(",", 1)[1])
        elif tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells[-1] += data


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _train(cli, out: Path, *sets: str) -> Path:
    args = [x for s in sets for x in ("--set", s)]
    code, _, err = cli("train", "-o", str(out), "--quiet", *args)
    assert code == 0, err
    return out


def test_train_writes_report_with_every_section(cli, tiny_data, tmp_path):
    run = _train(
        cli,
        tmp_path / "run",
        f"data.train={tiny_data['train']}",
        f"data.dev={tiny_data['dev']}",
        f"data.test={tiny_data['test']}",
        "model.name=textcnn",
        *FAST,
        "train.eval_batch_size=8",
    )
    page = _parse(run / "report.html")
    assert page.sections == [sid for sid, _, _ in SECTIONS]
    for name in PLOTS:
        png = (run / "plots" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG"), name
        assert png in page.images.values(), f"{name}.png is not embedded"
    # 40 test texts in eval batches of 8: five MCC bars; the mistakes tables quote test texts.
    html = (run / "report.html").read_text(encoding="utf-8")
    assert re.search(r"Total MCC over 40 test texts: <b>-?[01]\.\d{4}</b>; 5 batches of 8", html)
    test_texts = {
        line.split("\t", 1)[1].strip() for line in Path(tiny_data["test"]).read_text().splitlines()[1:]
    }
    assert test_texts & set(page.cells), "no test text in the mistakes tables"
    assert "Expected calibration error" in html
    assert "logs no separate loss parts" in html  # plain cross-entropy
    assert "model.name" not in html and "name: textcnn" in html  # the resolved config, as YAML


def test_report_command_rebuilds_and_shows_loss_parts_of_rdrop(cli, tiny_data, tmp_path):
    run = _train(
        cli,
        tmp_path / "run",
        f"data.train={tiny_data['train']}",
        f"data.test={tiny_data['test']}",
        "model.name=fasttext",
        "objective.name=rdrop",
        "train.report=false",
        *FAST,
    )
    assert not (run / "report.html").exists()
    out = tmp_path / "elsewhere.html"
    code, stdout, err = cli("report", str(run), "-o", str(out))
    assert code == 0, err
    assert stdout.strip() == str(out)
    page = _parse(out)
    assert "Loss parts" in page.images
    assert (run / "plots" / "loss_parts.png").is_file()
    html = out.read_text(encoding="utf-8")
    assert "Logged parts: ce, kl." in html


def test_report_on_multi_class_without_test_uses_dev(cli, tiny_zh, tmp_path):
    run = _train(cli, tmp_path / "run", f"data.train={tiny_zh['train']}", "model.name=fasttext", *FAST)
    header = (run / "predictions.tsv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split("\t")[-3:] == ["p_finance", "p_game", "p_sports"]
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "headline split: dev" in html
    page = _parse(run / "report.html")
    assert {"Confusion matrix", "ROC and precision-recall curves", "Reliability diagram"} <= set(page.images)


def test_report_on_multi_label_run(cli, tmp_path):
    recipe = ROOT / "configs" / "multilabel-example.yaml"
    code, _, err = cli("train", str(recipe), "-o", str(tmp_path / "ml"), "--quiet", "--set", "train.epochs=2")
    assert code == 0, err
    page = _parse(tmp_path / "ml" / "report.html")
    assert page.sections == [sid for sid, _, _ in SECTIONS]
    assert {
        "Learning curves",
        "Per-class precision, recall and F1",
        "ROC and precision-recall curves",
    } <= set(page.images)
    assert "Confusion matrix" not in page.images  # said in words instead


def test_report_needs_a_finished_run(cli, tmp_path):
    (tmp_path / "half").mkdir()
    code, _, err = cli("report", str(tmp_path / "half"))
    assert code == 2
    assert "no metrics.json" in err and "Traceback" not in err


def test_reliability_bins_and_ece_by_hand():
    # Confidences 0.95 (right), 0.95 (wrong), 0.65 (right), 0.55 (right).
    probs = np.array([[0.95, 0.05], [0.05, 0.95], [0.35, 0.65], [0.55, 0.45]])
    y = np.array([0, 0, 1, 0])
    rel = reliability(y, probs, bins=10)
    assert rel.count.tolist() == [0, 0, 0, 0, 0, 1, 1, 0, 0, 2]
    assert rel.accuracy[9] == 0.5 and rel.confidence[9] == pytest.approx(0.95)
    # ECE = 2/4*|0.5-0.95| + 1/4*|1-0.65| + 1/4*|1-0.55|
    assert rel.ece == pytest.approx(0.5 * 0.45 + 0.25 * 0.35 + 0.25 * 0.45)
    # A confidence of exactly 1.0 falls in the last bin, not past it.
    assert reliability(np.array([0]), np.array([[1.0, 0.0]]), bins=4).count.tolist() == [0, 0, 0, 1]
