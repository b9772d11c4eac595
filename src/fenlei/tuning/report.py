"""``tune.html``: the trials, the metric over time, the parameters' importances and the best config."""

from __future__ import annotations

import warnings
from pathlib import Path

from fenlei.evaluation.html_page import esc, figure_png, fmt, img, page, table

TUNE_REPORT = "tune.html"
MIN_FOR_IMPORTANCE = 4


def write_tune_report(study, out: Path, metric: str, result) -> Path:
    """Write ``out/tune.html`` for the study as it stands; returns its path."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    rows = []
    for t in trials:
        a = t.user_attrs
        state = "rejected" if a.get("rejected") else t.state.name.lower()
        rows.append([
            t.number,
            state,
            fmt(t.value),
            fmt(a.get("test")),
            fmt(a.get("seconds"), ".1f"),
            fmt(a.get("size_mb"), ".2f"),
            fmt(a.get("latency_ms"), ".2f"),
            ", ".join(f"{k}={v}" for k, v in t.params.items()),
            a.get("rejected") or a.get("error") or "",
        ])  # fmt: skip
    header = [
        "trial",
        "state",
        f"dev {metric}",
        f"test {metric}",
        "seconds",
        "MB",
        "ms/text",
        "params",
        "note",
    ]
    sections = [("trials", "Trials", table(header, rows, text_cols=(1, 7, 8)))]
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.datetime_complete]
    if done:
        sections.append(("progress", f"Dev {metric} over time", img(_progress_png(done, study), "metric")))
    sections.append(("importance", "Parameter importances", _importances(study)))
    best = ""
    if result.best_value is not None:
        best = (
            f"<p>dev {esc(metric)} {result.best_value:.4f}; run: {esc(result.best_run)}</p>"
            f"<pre>{esc(chr(10).join('--set ' + o for o in result.best_overrides))}</pre>"
            f"<p>Whole config: <code>best.yaml</code>.</p>"
        )
    else:
        best = '<p class="note">No trial finished within the limits yet.</p>'
    sections.append(("best", "Best config", best))
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items() if n)
    html = page("fenlei tune", f"{out} · {counts} · metric: dev {metric}", sections)
    path = out / TUNE_REPORT
    path.write_text(html, encoding="utf-8")
    return path


def _progress_png(done, study) -> bytes:
    from matplotlib.figure import Figure

    start = min(t.datetime_start for t in done)
    done = sorted(done, key=lambda t: t.datetime_complete)
    minutes = [(t.datetime_complete - start).total_seconds() / 60 for t in done]
    values = [t.value for t in done]
    maximize = study.direction.name == "MAXIMIZE"
    best, running = [], None
    for v in values:
        running = v if running is None else (max(running, v) if maximize else min(running, v))
        best.append(running)
    fig = Figure(figsize=(7, 3.2))
    ax = fig.add_subplot()
    ax.scatter(minutes, values, s=18, label="trial")
    ax.step(minutes, best, where="post", color="C1", label="best so far")
    ax.set_xlabel("minutes since the first trial")
    ax.set_ylabel("dev metric")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return figure_png(fig)


def _importances(study) -> str:
    """Optuna's default importances (PED-ANOVA since 5.0); a note while too few trials finished."""
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(done) < MIN_FOR_IMPORTANCE:
        return f'<p class="note">After {MIN_FOR_IMPORTANCE} finished trials ({len(done)} so far).</p>'
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PED-ANOVA's "too few trials" is said above instead
            scores = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as err:  # e.g. every trial drew the same value
        return f'<p class="note">Not computed: {esc(err)}</p>'
    rows = [[k, f"{v:.3f}"] for k, v in scores.items()]
    return table(["parameter", "importance"], rows, text_cols=(0,))
