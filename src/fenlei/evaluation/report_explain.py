"""The report's "Explained mistakes" section: the most confident mistakes with each token coloured
by how much it pushed the model toward its (wrong) answer, and the run's faithfulness figures
once ``fenlei explain --faithfulness`` has written them.

Attribution needs the saved model: the section loads the run's predictor and explains a few
texts (``EXPLAINED``), so it costs seconds, not minutes, even for a transformer on a CPU. A family
that cannot be attributed, or a machine without captum, gets a note instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from fenlei.errors import FenleiError
from fenlei.evaluation.html_page import esc, fmt, table
from fenlei.inference.explain_render import html_fragment
from fenlei.rundir import FAITHFULNESS, RunDir

EXPLAINED = 5  # mistakes explained, most confident first


def explained_mistakes(section) -> str:
    """The section body for a report ``_Section`` (its ``run`` is a RunRecord)."""
    run = section.run
    return _mistakes(run) + _faithfulness(RunDir(run.run_dir).read_json(FAITHFULNESS))


def _mistakes(run) -> str:
    pred = run.predictions
    if pred is None or np.ndim(pred.y_true) != 1:  # a multi-label run's gold is a label set per text
        return _note("Explained mistakes need single-label predictions (predictions.tsv).")
    y_pred = pred.probs.argmax(1)
    conf = pred.probs.max(1)
    wrong = np.flatnonzero(y_pred != pred.y_true)
    worst = wrong[np.argsort(-conf[wrong], kind="stable")][:EXPLAINED]
    if not len(worst):
        return _note(f"No mistakes on {run.split} to explain.")
    texts = [pred.texts[i] for i in worst]
    t0 = time.perf_counter()
    try:
        exps = explain_texts(run.run_dir, texts)
    except ImportError as err:
        return _note(
            f"Not explained: attribution needs captum ({err.name} is missing): pip install 'fenlei[explain]'."
        )
    except FenleiError as err:
        return _note(f"Not explained: {err}")
    seconds = time.perf_counter() - t0
    captions = [f"true {run.labels[pred.y_true[i]]}" for i in worst]
    lead = (
        f"<p>The {len(exps)} most confident mistakes on {esc(run.split)}, each token coloured by how much "
        "it pushed the model toward the label it gave (green) or away from it (red); hover a token "
        f"for its score. Explained in {seconds:.1f} s.</p>"
    )
    return lead + html_fragment(exps, captions=captions)


def explain_texts(run_dir: Path, texts: list[str]):
    """The run's explanations of its predicted labels for ``texts`` (torch backend)."""
    from fenlei.inference import load

    predictor = load(run_dir, "torch")
    explain = getattr(predictor, "explain", None)
    if explain is None:
        raise FenleiError("this fenlei has no attribution for the run's predictor")
    return explain(texts)


def _faithfulness(body: dict | None) -> str:
    if not body:
        return _note(
            "How faithful these colours are: `fenlei explain RUN --data TEST --faithfulness` measures it "
            "(and this section shows it once the report is written again)."
        )
    rows = [
        [
            f"{float(k):.0%}",
            fmt(body["comprehensiveness"][k]),
            fmt(body["comprehensiveness_random"][k]),
            fmt(body["sufficiency"][k]),
            fmt(body["sufficiency_random"][k]),
        ]
        for k in body["comprehensiveness"]
    ]
    header = ["tokens", "comprehensiveness", "random", "sufficiency", "random"]
    return (
        f"<h3>Faithfulness on {body['texts']} texts of {esc(Path(body.get('data', '-')).name)}</h3>"
        "<p>The drop in the label's probability when the top tokens are removed (comprehensiveness, "
        "higher is better) or kept alone (sufficiency, lower is better), against as many random "
        f"tokens; {body['method']}, {body['ms_per_text']:.1f} ms per text explained.</p>"
        + table(header, rows)
    )


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'
