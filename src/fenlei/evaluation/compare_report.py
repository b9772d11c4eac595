"""compare.html from compare.json: the table (mean ± std over seeds) and three plots, metric vs
train time, metric per model with error bars, and the dev learning curves overlaid."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fenlei.evaluation.html_page import esc, figure_png, fmt, img, page, table
from fenlei.rundir import REPORT, RunDir

COMPARE_HTML = "compare.html"


def write_compare_report(out_dir: str | Path) -> Path:
    """Write compare.html (and plots/*.png) in a `fenlei compare` folder; returns the HTML path."""
    out_dir = Path(out_dir)
    data = json.loads((out_dir / "compare.json").read_text(encoding="utf-8"))
    models = data["models"]
    plots_dir = out_dir / "plots"
    ok = [m for m in models if m["ok"]]
    sections = [("table", "Results", _table(models, data["seeds"], out_dir))]
    if ok:
        sections += [
            (
                "metric-vs-time",
                "Metric vs train time",
                img(figure_png(_vs_time(ok), plots_dir / "metric_vs_time.png"), "Metric vs train time"),
            ),
            (
                "metric-per-model",
                "Metric per model",
                img(figure_png(_bars(ok), plots_dir / "metric_per_model.png"), "Metric per model"),
            ),
            (
                "learning-curves",
                "Learning curves",
                img(figure_png(_overlay(ok), plots_dir / "learning_curves.png"), "Learning curves"),
            ),
        ]
    failed = [r for r in data["runs"] if r["status"] != "ok"]
    if failed:
        rows = [[r["name"], r["seed"] if r["seed"] is not None else "-", r["error"]] for r in failed]
        sections.append(("failed", "Failed runs", table(["model", "seed", "error"], rows, text_cols=(0, 2))))
    overrides = " ".join(f"--set {o}" for o in data.get("overrides", [])) or "none"
    subtitle = f"{len(models)} configs × {data['seeds']} seed(s); shared overrides: {overrides}"
    out = out_dir / COMPARE_HTML
    out.write_text(page(f"fenlei compare: {out_dir.name}", subtitle, sections), encoding="utf-8")
    return out


SUMMARY_HEADER = ["model", "metric", "value", "accuracy", "macro F1", "MCC", "ROC-AUC"]
SUMMARY_HEADER += ["best vs this", "train s", "infer texts/s", "params", "peak MB", "runs ok"]


def summary_rows(models: list[dict]) -> list[list[str]]:
    """One row of text cells per model (``SUMMARY_HEADER``), for the HTML and the terminal table."""
    rows = []
    for m in models:
        runs = f"{m['ok']}/{m['runs']}" + (f": {'; '.join(m['errors'])}" if m["errors"] else "")
        if not m["ok"]:
            rows.append([m["name"], m["metric"], "failed", *["-"] * 9, runs])
            continue
        rows.append(
            [
                m["name"],
                m["metric"],
                plus_minus(m, m["metric"]),
                plus_minus(m, "accuracy"),
                plus_minus(m, "macro_f1"),
                plus_minus(m, "mcc"),
                plus_minus(m, "roc_auc"),
                versus_best(m.get("vs_best")),
                fmt(m["train_seconds"], ".1f"),
                fmt(m["texts_per_second"], ",.0f"),
                fmt(m["params"], ",d"),
                fmt(m["peak_rss_mb"], ",.0f"),
                runs,
            ]
        )
    return rows


def _table(models: list[dict], seeds: int, out_dir: Path) -> str:
    header, rows = SUMMARY_HEADER, summary_rows(models)
    html = table(header, rows, text_cols=(0, 1, 7, 12))
    # Link each model's run reports (relative, so the folder can be moved as a whole).
    links = []
    for m in models:
        reports = [RunDir(d) / REPORT for d in m.get("run_dirs", [])]
        found = [r for r in reports if r.is_file()]
        if found:
            anchors = " ".join(
                f'<a href="{esc(os.path.relpath(r, out_dir))}">{esc(r.parent.name)}</a>' for r in found
            )
            links.append(f"<li>{esc(m['name'])}: {anchors}</li>")
    split = next((m["split"] for m in models if m.get("split")), "test")
    note = (
        f'<p class="note">{split} split; mean ± std over {seeds} seed(s); '
        "params and peak memory per process; <i>best vs this</i>: a paired bootstrap of the first "
        "seed's predictions (1,000 resamples of the same texts), a win only when it holds in 95%.</p>"
    )
    return html + note + (f"<p>Run reports:</p><ul>{''.join(links)}</ul>" if links else "")


def versus_best(v: dict | None) -> str:
    """The paired bootstrap cell: ``best`` for the top model, else e.g. ``tie (ahead in 71%)``."""
    if not v:
        return "-"
    if v["verdict"] == "best":
        return "best"
    this = {"ahead": "behind", "behind": "ahead"}.get(v["verdict"], "tie")  # the best's verdict, turned round
    return f"{this} (best ahead in {v['ahead']:.0%})"


def plus_minus(m: dict, key: str) -> str:
    """``mean ± std`` of a summary entry (just the mean for one seed); '-' when missing."""
    mean, std = m.get(key), m.get(f"{key}_std")
    if mean is None:
        return "-"
    return f"{mean:.4f} ± {std:.4f}" if std else f"{mean:.4f}"


def _vs_time(models: list[dict]) -> Figure:
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for m in models:
        y, err = m.get(m["metric"]), m.get(f"{m['metric']}_std") or 0.0
        if y is None or m["train_seconds"] is None:
            continue
        ax.errorbar(m["train_seconds"], y, yerr=err, fmt="o", capsize=4, label=m["name"])
        ax.annotate(m["name"], (m["train_seconds"], y), textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.set(xlabel="train seconds (mean)", ylabel=_metric_label(models), title="Metric vs train time")
    ax.set_xscale("log")
    ax.grid(alpha=0.3)
    return fig


def _bars(models: list[dict]) -> Figure:
    names = [m["name"] for m in models]
    values = [m.get(m["metric"]) or 0.0 for m in models]
    errs = [m.get(f"{m['metric']}_std") or 0.0 for m in models]
    fig = Figure(figsize=(7, 0.5 * len(models) + 1.5), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(models))
    ax.barh(y, values, xerr=errs, capsize=4, color="tab:blue")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    low = min(v - e for v, e in zip(values, errs, strict=True))
    ax.set_xlim(max(0.0, low - 0.05) if low > 0 else low - 0.05, max(values) + max(errs) + 0.03)
    for yi, v, e in zip(y, values, errs, strict=True):  # the value right of its error bar
        ax.text(v + e, yi, f"  {v:.4f}", va="center", fontsize=9)
    ax.set(xlabel=_metric_label(models), title="Metric per model (error bars: std over seeds)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _overlay(models: list[dict]) -> Figure:
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    colors = iter(_colors())
    lengths = []  # last epoch of each run
    for m in models:
        color = next(colors)
        for k, run_dir in enumerate(m.get("run_dirs", [])):
            dev = [r for r in RunDir(run_dir).read_history() if r.get("split") == "dev"]
            points = [(r["epoch"], r[m["metric"]]) for r in dev if isinstance(r.get(m["metric"]), float)]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, color=color, alpha=0.85, marker=".", label=m["name"] if k == 0 else None)
                lengths.append(max(xs))
    xlabel = "epoch"
    if lengths and min(lengths) > 0 and max(lengths) / min(lengths) > 10:
        ax.set_xscale("log")  # a 150-epoch few-label run would squash 3-epoch runs into the y axis
        xlabel = "epoch (log scale)"
    ax.set(xlabel=xlabel, ylabel=f"dev {_metric_label(models)}", title="Dev learning curves (every seed)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return fig


def _colors() -> list[str]:
    """Matplotlib's default colour cycle, repeated so any number of models gets a colour."""
    from matplotlib import rcParams

    cycle = rcParams["axes.prop_cycle"].by_key()["color"]
    return cycle * 10


def _metric_label(models: list[dict]) -> str:
    metrics = sorted({m["metric"] for m in models})
    return " / ".join(metrics)
