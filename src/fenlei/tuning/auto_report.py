"""``auto.html``: every candidate of ``fenlei auto`` against its cost, the Pareto front marked."""

from __future__ import annotations

from fenlei.evaluation.html_page import esc, figure_png, fmt, img, page, table
from fenlei.evaluation.metrics import LOWER_IS_BETTER

AUTO_REPORT = "auto.html"
AUTO_SUMMARY = "auto.json"  # the same figures for scripts: every candidate and the winner


def pareto(points: list[tuple[float, float]]) -> list[bool]:
    """For (quality, speed) pairs, both higher-is-better: True where no other point is at least as
    good in both and better in one."""
    out = []
    for i, (q, s) in enumerate(points):
        dominated = any(
            (q2 >= q and s2 >= s) and (q2 > q or s2 > s) for j, (q2, s2) in enumerate(points) if j != i
        )
        out.append(not dominated)
    return out


def write_auto_report(result) -> object:
    """Write ``DIR/auto.html`` for an AutoResult; returns its path."""
    metric = result.metric
    sign = -1 if metric in LOWER_IS_BETTER else 1
    cands = [c for c in result.candidates if c.dev is not None]
    front = pareto([(sign * c.dev, c.texts_per_second or 0.0) for c in cands])
    on_front = {id(c) for c, f in zip(cands, front, strict=True) if f}
    rows = []
    for c in sorted(result.candidates, key=lambda c: (c.dev is None, -sign * (c.dev or 0))):
        mark = "winner" if c is result.winner else ("Pareto" if id(c) in on_front else "")
        note = "; ".join(
            x for x in (c.rejected and f"rejected: {c.rejected}", c.stopped and "stopped by budget") if x
        )
        rows.append([
            c.family, c.source, fmt(c.dev), fmt(c.test), fmt(c.train_seconds, ".1f"),
            fmt(c.texts_per_second, ",.0f"), fmt(c.size_mb, ".2f"), fmt(c.latency_ms, ".2f"), mark,
            _versus(c.versus), note,
        ])  # fmt: skip
    header = [
        "family",
        "run",
        f"dev {metric}",
        f"test {metric}",
        "train s",
        "texts/s",
        "MB",
        "ms/text",
        "",
        "the winner against this run (paired bootstrap)",
        "note",
    ]
    sections = [("candidates", "Candidates", table(header, rows, text_cols=(0, 1, 8, 9, 10)))]
    if cands:
        sections.append(
            ("tradeoff", "Quality against cost", img(_plot(cands, on_front, result, metric), "plot"))
        )
    if result.winner is not None:
        w = result.winner
        link = f'<a href="{esc(result.best_run.name)}/report.html">report of the winner</a>'
        sections.append((
            "winner", "Winner",
            f"<p>{esc(w.family)} ({esc(w.source)}): dev {esc(metric)} {fmt(w.dev)}, test {fmt(w.test)}; "
            f"copied to <code>{esc(result.best_run)}</code> ({link}).</p>"
            + (f"<p>Chosen by the one-standard-error rule: {esc(result.why)}.</p>" if result.why else ""),
        ))  # fmt: skip
    sub = f"{result.out_dir} · language {result.language} · {len(result.candidates)} runs"
    sub += f" · {result.seconds:.0f} s"
    path = result.out_dir / AUTO_REPORT
    path.write_text(page("fenlei auto", sub, sections), encoding="utf-8")
    return path


def write_auto_summary(result) -> object:
    """Write ``DIR/auto.json`` for an AutoResult (what the page shows, as data); returns its path."""
    import json
    from dataclasses import asdict

    def row(c) -> dict:
        return asdict(c) | {"run_dir": str(c.run_dir)}

    data = {
        "metric": result.metric,
        "language": result.language,
        "seconds": result.seconds,
        "best_run": None if result.best_run is None else str(result.best_run),
        "winner": None if result.winner is None else row(result.winner),
        "winner_rule": result.why,  # set when a cheaper family within one standard error won
        "candidates": [row(c) for c in result.candidates],
    }
    path = result.out_dir / AUTO_SUMMARY
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def _plot(cands, on_front, result, metric) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6))
    for k, (attr, label) in enumerate((("train_seconds", "train seconds"), ("texts_per_second", "texts/s"))):
        ax = fig.add_subplot(1, 2, k + 1)
        for fam in dict.fromkeys(c.family for c in cands):
            pts = [c for c in cands if c.family == fam and getattr(c, attr)]
            ax.scatter([getattr(c, attr) for c in pts], [c.dev for c in pts], s=22, label=fam)
        if k == 1:
            front = sorted(
                (c for c in cands if id(c) in on_front and c.texts_per_second),
                key=lambda c: c.texts_per_second,
            )
            ax.plot(
                [c.texts_per_second for c in front], [c.dev for c in front], "k--", lw=1, label="Pareto front"
            )
        if result.winner is not None and getattr(result.winner, attr):
            ax.scatter(
                [getattr(result.winner, attr)],
                [result.winner.dev],
                s=120,
                facecolors="none",
                edgecolors="red",
            )
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(f"dev {metric}")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return figure_png(fig)


def _versus(v: dict | None) -> str:
    """``ahead in 97% (ahead); +0.4..+2.1 points``: the winner against one run, on the same texts."""
    if v is None:
        return ""
    from fenlei.evaluation.bootstrap import verdict

    low, high = (100 * x for x in v["interval"])
    return f"ahead in {v['ahead']:.0%} ({verdict(v)}); 95% interval {low:+.1f}..{high:+.1f} points"
