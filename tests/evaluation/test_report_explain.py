"""The report's "Explained mistakes" section: the confident mistakes highlighted, notes otherwise."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import fenlei.evaluation.report_explain as rx
from explain_fakes import KeywordExplainer
from fenlei.errors import FenleiError
from fenlei.rundir import FAITHFULNESS, RunDir


def _run(tmp_path, predictions=True):
    texts = ["a great film", "dull", "superb but dull dull", "fine", "lovely"]
    probs = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.45, 0.55]])
    pred = (
        SimpleNamespace(texts=texts, y_true=np.array([0, 0, 0, 1, 0]), probs=probs) if predictions else None
    )
    return SimpleNamespace(
        run=SimpleNamespace(run_dir=tmp_path, predictions=pred, labels=["neg", "pos"], split="test")
    )


def test_confident_mistakes_are_explained_most_confident_first(tmp_path, monkeypatch):
    asked = []

    def explain(run_dir, texts):
        asked.append(texts)
        return KeywordExplainer().explain(texts)

    monkeypatch.setattr(rx, "explain_texts", explain)
    html = rx.explained_mistakes(_run(tmp_path))
    assert asked == [["a great film", "superb but dull dull", "lovely"]]
    assert html.count('class="item"') == 3 and "true neg" in html and 'title="+2.0000"' in html
    assert "fenlei explain RUN --data TEST --faithfulness" in html  # no figures yet: how to get them
    RunDir(tmp_path).write_json(
        FAITHFULNESS,
        {
            "texts": 3,
            "method": "exact-linear",
            "ms_per_text": 1.5,
            "data": "/x/test.tsv",
            **{k: {"0.2": 0.5} for k in ("comprehensiveness", "sufficiency")},
            **{k: {"0.2": 0.1} for k in ("comprehensiveness_random", "sufficiency_random")},
        },
    )
    html = rx.explained_mistakes(_run(tmp_path))
    assert "Faithfulness on 3 texts of test.tsv" in html and "<td>20%</td><td>0.5000</td>" in html


def test_notes_when_nothing_can_be_explained(tmp_path, monkeypatch):
    assert "single-label predictions" in rx.explained_mistakes(_run(tmp_path, predictions=False))

    def unsupported(run_dir, texts):
        raise FenleiError("model family dpcnn cannot be attributed yet")

    monkeypatch.setattr(rx, "explain_texts", unsupported)
    assert "Not explained: model family dpcnn" in rx.explained_mistakes(_run(tmp_path))

    def no_captum(run_dir, texts):
        raise ModuleNotFoundError("No module named 'captum'", name="captum")

    monkeypatch.setattr(rx, "explain_texts", no_captum)
    assert "pip install &#x27;fenlei[explain]&#x27;" in rx.explained_mistakes(_run(tmp_path))


@pytest.mark.report
def test_a_real_run_is_explained_in_its_report(served_runs, tmp_path):
    pytest.importorskip("captum")
    import shutil

    from fenlei.evaluation.report import write_report
    from fenlei.inference.predictor import Predictor

    run = shutil.copytree(served_runs["sentiment"], tmp_path / "run")
    # predictions.tsv with the gold labels of three texts flipped: three confident "mistakes"
    texts = ["a great and lovely film", "dull , boring and awful", "the plot was superb", "fine"]
    predictor = Predictor(run)
    probs = predictor.predict_proba(texts)
    gold = 1 - probs.argmax(1)
    gold[3] = probs[3].argmax()
    RunDir(run).write_predictions(predictor.task, texts, gold.tolist(), probs, predictor.label_names)
    html = write_report(run).read_text()
    section = html.split('<section id="explained-mistakes">')[1].split("</section>")[0]
    assert "The 3 most confident mistakes on dev" in section and section.count('class="item"') == 3
    assert "integrated-gradients" in section and 'class="tok"' in section and "fine" not in section
