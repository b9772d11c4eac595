"""``fenlei report RUN_DIR``: one self-contained report.html (plots embedded) plus plots/*.png.

Each section is a builder in ``SECTIONS``; a section that does not apply to the run (a
confusion matrix for a multi-label run, loss parts for plain cross-entropy) says so instead
of disappearing, so every report has the same outline.
"""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml
from sklearn import metrics as skm

from fenlei.evaluation import plots
from fenlei.evaluation.calibration import reliability
from fenlei.evaluation.html_page import esc, figure_png, fmt, img, page, table
from fenlei.evaluation.report_explain import explained_mistakes
from fenlei.rundir import PLOTS as PLOTS_DIR
from fenlei.rundir import PROFILE as PROFILE_FILE
from fenlei.rundir import REPORT as REPORT_FILE
from fenlei.rundir import RunDir, RunRecord, load_run

TABLE_ROWS = 10  # texts per mistakes table
PROFILE_LABELS = 50  # labels (most frequent in train first) in the data profile's table

HEADLINE = ("accuracy", "macro_f1", "micro_f1", "mcc", "roc_auc", "subset_accuracy", "hamming_loss", "loss")


class _Section:
    """Renders one section's body; figures go to plots/<name>.png and are embedded."""

    def __init__(self, run: RunRecord, plots_dir: Path) -> None:
        self.run, self.plots_dir = run, plots_dir

    def figure(self, fig, name: str, alt: str) -> str:
        if fig is None:
            return _note(f"No data for {alt.lower()} in this run.")
        return img(figure_png(fig, self.plots_dir / f"{name}.png"), alt)


def _summary(s: _Section) -> str:
    run = s.run
    rows = []
    for split in ("dev", "test"):
        m = run.metrics.get(split)
        if m:
            rows.append([split, m.get("n", "-"), *(fmt(m.get(k)) for k in HEADLINE)])
    header = ["split", "texts", *HEADLINE]
    keep = [i for i, _ in enumerate(header) if i < 2 or any(r[i] != "-" for r in rows)]
    t = run.metrics.get("train", {})
    data = run.metrics.get("data", {})
    facts = [
        ["model", run.config.get("model", {}).get("name", "-")],
        ["objective", run.config.get("objective", {}).get("name", "-")],
        ["labels", len(run.labels)],
        [
            "train / dev / test texts",
            f"{data.get('train', '-')} / {data.get('dev', '-')} / {data.get('test', '-')}",
        ],
        ["selection metric", run.metric],
        ["best step / steps", f"{t.get('best_step', '-')} / {t.get('steps', '-')}"],
        ["epochs (stopped early)", f"{fmt(t.get('epochs'), '.2f')} ({t.get('stopped_early', '-')})"],
        ["train seconds", fmt(t.get("seconds"), ".1f")],
        ["test texts/s", fmt(run.metrics.get("test", {}).get("texts_per_second"), ",.0f")],
        ["parameters (trainable)", f"{fmt(t.get('params'), ',d')} ({fmt(t.get('trainable_params'), ',d')})"],
        ["peak memory MB", fmt(t.get("peak_rss_mb"), ",.0f")],
        ["device / precision", f"{t.get('device', '-')} / {t.get('precision', '-')}"],
    ]
    return table([header[i] for i in keep], [[r[i] for i in keep] for r in rows]) + table(
        ["run", ""], facts, text_cols=(0, 1)
    )


def _data_profile(s: _Section) -> str:
    """profile.json (fenlei.data.profile) as tables, its warnings first."""
    prof = RunDir(s.run.run_dir).read_json(PROFILE_FILE)
    if prof is None:
        return _note(
            "This run has no profile.json (trained before fenlei profiled its data); "
            "`fenlei data profile TRAIN [DEV TEST]` profiles the files."
        )
    script = ", ".join(f"{k} {v:.0%}" for k, v in prof["script"].items())
    out = (
        f"<p>Language <b>{esc(prof['language'])}</b> ({esc(script)} of non-space characters); "
        f"token lengths in {esc(prof['token_unit'])}; profiled in {prof['seconds']:.2f}s.</p>"
    )
    warns = "".join(f"<li>{esc(w)}</li>" for w in prof["warnings"])
    out += f"<h3>Warnings</h3><ul>{warns}</ul>" if warns else _note("No warnings.")
    out += "".join(f"<p>{esc(n)}</p>" for n in prof["notes"])
    splits, q = prof["splits"], ("p50", "p90", "p95", "p99", "max")
    rows = []
    for name, sp in splits.items():
        chars, tokens, hit = sp["chars"] or {}, sp["tokens"] or {}, sp["in_train"] or {}
        rows.append(
            [
                name,
                sp["texts"],
                sum(sp["skipped"].values()),
                *(fmt(chars.get(k), ",d") for k in q),
                *(fmt(tokens.get(k), ",d") for k in q),
                fmt(tokens.get("truncated"), ".1%"),
                fmt(hit.get("exact"), ",d"),
                fmt(hit.get("normalised"), ",d"),
            ]
        )
    header = [
        "split",
        "texts",
        "skipped",
        *(f"chars {k}" for k in q),
        *(f"tokens {k}" for k in q),
        "cut at max_length",
        "in train (exact)",
        "in train (normalised)",
    ]
    out += "<h3>Splits and lengths</h3>" + table(header, rows)
    names = list(dict.fromkeys(n for sp in splits.values() for n in sp["labels"]))
    shown = names[:PROFILE_LABELS]
    counts = [[n, *(fmt(sp["labels"].get(n, 0), ",d") for sp in splits.values())] for n in shown]
    more = f" (the {len(shown)} largest in train of {len(names)})" if len(names) > len(shown) else ""
    out += f"<h3>Texts per label{more}</h3>" + table(["label", *splits], counts, text_cols=(0,))
    per = (splits.get("train") or {}).get("labels_per_text")
    if per:
        out += "<h3>Labels per train text</h3>" + table(["labels", "texts"], [[k, v] for k, v in per.items()])
    dup, con = prof["duplicates"], prof["conflicts"]
    if dup:
        out += (
            f"<p>Train repeats: {dup['exact']:,} exact, {dup['normalised']:,} normalised; "
            f"{con['count']:,} texts occur with different labels.</p>"
        )
    if con.get("examples"):
        rows = [[c["text"], " vs ".join(c["labels"])] for c in con["examples"]]
        out += table(["text in train", "labels"], rows, text_cols=(0, 1))
    return out


def _config(s: _Section) -> str:
    return f"<pre>{esc(yaml.safe_dump(s.run.config, sort_keys=False, allow_unicode=True))}</pre>"


def _learning(s: _Section) -> str:
    return s.figure(plots.learning_curves(s.run), "learning_curves", "Learning curves")


def _confusion(s: _Section) -> str:
    return s.figure(plots.confusion(s.run), "confusion_matrix", "Confusion matrix")


def _per_class(s: _Section) -> str:
    return s.figure(plots.per_class_bars(s.run), "per_class", "Per-class precision, recall and F1")


def _roc_pr(s: _Section) -> str:
    return s.figure(plots.roc_pr(s.run), "roc_pr", "ROC and precision-recall curves")


def _calibration(s: _Section) -> str:
    pred = s.run.predictions
    if pred is None:
        return _note("Calibration needs single-label predictions (predictions.tsv).")
    rel = reliability(pred.y_true, pred.probs)
    text = (
        f"<p>Expected calibration error (10 equal-width confidence bins): <b>{rel.ece:.4f}</b>. "
        "Where a red tick (mean confidence) sits above its bar, the model is over-confident there.</p>"
    )
    return text + s.figure(plots.reliability_diagram(rel), "calibration", "Reliability diagram")


def _mcc(s: _Section) -> str:
    pred = s.run.predictions
    if pred is None:
        return _note("MCC per batch needs single-label predictions (predictions.tsv).")
    size = _eval_batch_size(s.run)
    y_pred = pred.probs.argmax(1)
    scores = []
    with warnings.catch_warnings():  # a batch with one class has MCC 0 by definition
        warnings.simplefilter("ignore")
        for i in range(0, len(y_pred), size):
            scores.append(float(skm.matthews_corrcoef(pred.y_true[i : i + size], y_pred[i : i + size])))
        total = float(skm.matthews_corrcoef(pred.y_true, y_pred))
    text = (
        f"<p>Total MCC over {len(y_pred)} {s.run.split} texts: <b>{total:.4f}</b>; "
        f"{len(scores)} batches of {size}, mean of the batches {np.mean(scores):.4f}.</p>"
    )
    return text + s.figure(plots.mcc_per_batch(scores, total, size), "mcc_per_batch", "MCC per batch")


def _mistakes(s: _Section) -> str:
    pred = s.run.predictions
    if pred is None:
        return _note("Mistake tables need single-label predictions (predictions.tsv).")
    y_pred = pred.probs.argmax(1)
    conf = pred.probs.max(1)
    wrong = np.flatnonzero(y_pred != pred.y_true)
    right = np.flatnonzero(y_pred == pred.y_true)
    worst = wrong[np.argsort(-conf[wrong], kind="stable")][:TABLE_ROWS]
    unsure = right[np.argsort(conf[right], kind="stable")][:TABLE_ROWS]
    names = s.run.labels

    def rows(idx):
        return [[pred.texts[i], names[pred.y_true[i]], names[y_pred[i]], f"{conf[i]:.4f}"] for i in idx]

    header = ["text", "true", "predicted", "confidence"]
    return (
        f"<h3>Most confident mistakes ({len(wrong)} wrong of {len(y_pred)})</h3>"
        + (table(header, rows(worst), text_cols=(0, 1, 2)) if len(worst) else _note("No mistakes."))
        + "<h3>Least confident correct answers</h3>"
        + (table(header, rows(unsure), text_cols=(0, 1, 2)) if len(unsure) else _note("No correct answers."))
    )


def _parts(s: _Section) -> str:
    parts = s.run.loss_parts()
    if not parts:
        name = s.run.config.get("objective", {}).get("name", "the objective")
        return _note(f"{name} logs no separate loss parts (UDA and R-Drop runs do).")
    return f"<p>Logged parts: {esc(', '.join(parts))}.</p>" + s.figure(
        plots.loss_parts(s.run), "loss_parts", "Loss parts"
    )


# (section id, heading, builder): the report's outline, in order.
SECTIONS: list[tuple[str, str, Callable[[_Section], str]]] = [
    ("summary", "Summary", _summary),
    ("data-profile", "Data profile", _data_profile),
    ("learning-curves", "Learning curves", _learning),
    ("confusion-matrix", "Confusion matrix", _confusion),
    ("per-class", "Per-class precision, recall, F1", _per_class),
    ("roc-pr", "ROC and precision-recall", _roc_pr),
    ("calibration", "Calibration", _calibration),
    ("mcc", "MCC per evaluation batch", _mcc),
    ("mistakes", "Mistakes and doubts", _mistakes),
    ("explained-mistakes", "Explained mistakes", explained_mistakes),
    ("loss-parts", "Loss parts", _parts),
    ("config", "Resolved config", _config),
]


def write_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write ``report.html`` (or ``output``) and ``plots/*.png`` for a finished run; returns the HTML path."""
    run = load_run(run_dir)
    plots_dir = run.run_dir / PLOTS_DIR
    section = _Section(run, plots_dir)
    with warnings.catch_warnings():  # e.g. a font without CJK glyphs for Chinese label names
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        sections = [(sid, head, _build(section, sid, build)) for sid, head, build in SECTIONS]
    split = f"headline split: {run.split}"
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    html = page(f"fenlei report: {run.run_dir.name}", f"{run.run_dir} · {split} · written {when}", sections)
    out = Path(output) if output else run.run_dir / REPORT_FILE
    out.write_text(html, encoding="utf-8")
    return out


def _build(section: _Section, sid: str, build: Callable[[_Section], str]) -> str:
    """A section's body, or the task's note on why it does not apply (multi-label: no confusion matrix)."""
    note = section.run.task.section_note(sid)
    return _note(note) if note else build(section)


def _eval_batch_size(run: RunRecord) -> int:
    from fenlei.errors import FenleiError
    from fenlei.models import model_class

    size = run.config.get("train", {}).get("eval_batch_size") or 0
    if size:
        return int(size)
    try:
        return model_class(run.config.get("model", {}).get("name", "")).eval_batch_size
    except FenleiError:  # a model family not installed here: the CoLA tutorial's 32
        return 32


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'
