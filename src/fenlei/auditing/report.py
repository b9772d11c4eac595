"""``audit.html``: counts per class, the estimated share of wrong labels, the confident joint, the
top suspects and the duplicate texts with different labels, on one self-contained page."""

from __future__ import annotations

from pathlib import Path

from fenlei.auditing.outputs import CONFLICT_HEADER, SUSPECT_HEADER, conflict_rows, suspect_rows
from fenlei.evaluation.html_page import esc, fmt, page, table

TOP_SUSPECTS = 100  # rows of the suspects table (suspects.tsv holds them all)
TOP_CONFLICTS = 50  # groups of the conflicts table (conflicts.tsv holds them all)


def write_audit_report(path: Path, result, summary: dict) -> Path:
    """Write the page for an AuditResult and its audit.json ``summary``; returns ``path``."""
    n = summary["texts"]
    flagged = summary["flagged"]
    overview = [
        ["train file", summary["train"]],
        ["texts", f"{n:,}"],
        ["model, folds", f"{summary['model']}, {summary['folds']} (seed {summary['seed']})"],
        ["held-out accuracy (all folds)", fmt(summary["held_out_accuracy"])],
        [f"flagged ({summary['flag_by']})", f"{flagged:,} ({flagged / n:.1%})"],
        ["estimated share of wrong labels", f"{summary['noise_rate']:.1%}"],
        ["duplicate groups with different labels",
         f"{summary['conflicts']['exact']:,} exact, {summary['conflicts']['near']:,} near"],
        ["ranked by", summary["rank_by"]],
    ]  # fmt: skip
    sections = [
        ("summary", "Summary", table(["", "value"], overview, text_cols=(0, 1)) + _how()),
        ("classes", "Classes", _classes(summary)),
        ("joint", "Confident joint", _joint(result)),
        ("suspects", "Top suspects", _suspects(result, flagged)),
        ("conflicts", "Duplicates with different labels", _conflicts(result)),
        ("folds", "Fold runs", _folds(summary)),
    ]
    if result.command is not None:
        body = (
            f"<p>{result.removed:,} of {n:,} rows left out (the flagged ones): "
            f"<code>{esc(result.files['cleaned'])}</code>. Train on it with:</p>"
            f"<pre>{esc(result.command)}</pre>"
        )
        sections.append(("cleaned", "Cleaned train file", body))
    subtitle = f"{result.out_dir} · {n:,} texts · {flagged:,} flagged · noise ≈ {summary['noise_rate']:.1%}"
    path.write_text(page("fenlei audit", subtitle, sections), encoding="utf-8")
    return path


def _how() -> str:
    return (
        '<p class="note">Every text\'s probabilities come from the fold run that held it out. A text is '
        "confidently of a class when its probability of that class reaches the class's threshold (the "
        "mean probability of the class over its own texts). confident_joint flags the texts confident of "
        "a class other than the given one; noise_rate flags, per pair of classes, as many texts as the "
        "estimated joint says are wrong, largest margin first. Scores are in [0, 1]; lower is more "
        "suspect. The share of wrong labels is 1 minus the trace of the confident joint calibrated to "
        "the class sizes.</p>"
    )


def _classes(summary: dict) -> str:
    rows = [
        [
            c["label"],
            f"{c['texts']:,}",
            f"{c['threshold']:.3f}",
            f"{c['flagged']:,}",
            f"{c['flagged'] / c['texts']:.1%}" if c["texts"] else "-",
            f"{c['noise_rate']:.1%}",
        ]
        for c in summary["classes"]
    ]
    header = ["given label", "texts", "threshold", "flagged", "flagged share", "estimated wrong"]
    return table(header, rows, text_cols=(0,))


def _joint(result) -> str:
    names = result.names
    joint = result.ranking.joint
    rows = [[f"given {name}", *(f"{v:,}" for v in joint[i])] for i, name in enumerate(names)]
    note = (
        '<p class="note">Rows: the given label; columns: the label the model is confident of (texts '
        "confident of no class are left out). Off the diagonal: what confident_joint flags.</p>"
    )
    return note + table(["", *names], rows, text_cols=(0,))


def _suspects(result, flagged: int) -> str:
    if not flagged:
        return '<p class="note">No text is flagged.</p>'
    rows = list(
        suspect_rows(
            result.ranking, result.probs, result.texts, result.given, result.names, result.lines, TOP_SUSPECTS
        )
    )
    shown = min(TOP_SUSPECTS, flagged)
    where = esc(result.files["suspects"])
    more = f'<p class="note">{shown:,} of {flagged:,}, most suspect first; all in <code>{where}</code>.</p>'
    return table(SUSPECT_HEADER, rows, text_cols=(0, 1, 2)) + more


def _conflicts(result) -> str:
    if not result.conflicts:
        return '<p class="note">No identical or near-identical texts carry different labels.</p>'
    rows = list(conflict_rows(result.conflicts, result.texts, result.labels, result.lines, TOP_CONFLICTS))
    shown = min(TOP_CONFLICTS, len(result.conflicts))
    note = (
        f'<p class="note">{shown} of {len(result.conflicts):,} groups (largest first); all in '
        f"<code>{esc(result.files['conflicts'])}</code>. Exact: equal after case, whitespace and "
        "punctuation are normalised; near: character 3-gram TF-IDF cosine at least the threshold "
        "(similarity is the lowest cosine that joined the group).</p>"
    )
    return note + table(CONFLICT_HEADER, rows, text_cols=(1, 3, 4))


def _folds(summary: dict) -> str:
    rows = [
        [
            f["fold"],
            f"{f['train']:,}",
            f"{f['held_out']:,}",
            fmt(f["accuracy"]),
            fmt(f["seconds"], ".1f"),
            "reused" if f["reused"] else "",
            f["run_dir"],
        ]
        for f in summary["fold_runs"]
    ]
    header = ["fold", "trained on", "held out", "held-out accuracy", "seconds", "", "run"]
    return table(header, rows, text_cols=(5, 6))
