"""matplotlib figures of one run: learning curves, confusion matrix, per-class bars, ROC/PR,
reliability, MCC per batch and loss parts. Figures are built without pyplot, so no display
(and no global backend state) is needed."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from sklearn import metrics as skm

from fenlei.evaluation.calibration import Reliability
from fenlei.rundir import RunRecord

# Above this many classes, cell annotations and legends would be unreadable.
MAX_ANNOTATED = 15


def learning_curves(run: RunRecord) -> Figure | None:
    """Train/dev loss per step (left) and the selection metric on dev (right), best point marked."""
    train, dev = run.rows("train"), run.rows("dev")
    if not train and not dev:
        return None
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_loss, ax_metric = fig.subplots(1, 2)
    _line(ax_loss, train, "loss", "train loss", alpha=0.8)
    _line(ax_loss, dev, "loss", "dev loss", marker="o")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("Loss")
    ax_loss.legend()
    metric = run.metric
    points = [(r["step"], r[metric]) for r in dev if isinstance(r.get(metric), float)]
    if points:
        steps, values = zip(*points, strict=True)
        ax_metric.plot(steps, values, marker="o", color="tab:green", label=f"dev {metric}")
        best_step = run.metrics.get("train", {}).get("best_step")
        best = [(s, v) for s, v in points if s == best_step]
        if best:
            ax_metric.scatter(*best[0], s=160, facecolors="none", edgecolors="red", linewidths=2, zorder=3)
            ax_metric.annotate(
                f"best {best[0][1]:.4f} @ step {int(best[0][0])}",
                best[0],
                textcoords="offset points",
                xytext=(0, -18),
                ha="center",
                color="red",
            )
        ax_metric.legend()
    ax_metric.set_xlabel("step")
    ax_metric.set_ylabel(metric)
    ax_metric.set_title(f"Dev {metric}")
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
    return fig


def confusion(run: RunRecord) -> Figure | None:
    """Confusion matrix heatmaps: counts and row-normalised (each true class sums to 1)."""
    cm = run.metrics.get(run.split, {}).get("confusion_matrix")
    if cm is None:
        return None
    cm = np.asarray(cm, dtype=np.float64)
    k = len(cm)
    side = min(4 + 0.45 * k, 14)
    fig = Figure(figsize=(2 * side + 1, side), layout="constrained")
    axes = fig.subplots(1, 2)
    rows = cm.sum(1, keepdims=True)
    normed = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    for ax, matrix, title, fmt in (
        (axes[0], cm, "counts", "{:.0f}"),
        (axes[1], normed, "row-normalised", "{:.2f}"),
    ):
        image = ax.imshow(matrix, cmap="Blues")
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_title(f"Confusion matrix ({title})")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ticks = range(k)
        ax.set_xticks(
            ticks, _short(run.labels), rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center"
        )
        ax.set_yticks(ticks, _short(run.labels))
        if k <= MAX_ANNOTATED:
            high = matrix.max() / 2 if matrix.size else 0
            for i in range(k):
                for j in range(k):
                    color = "white" if matrix[i, j] > high else "black"
                    ax.text(j, i, fmt.format(matrix[i, j]), ha="center", va="center", color=color, fontsize=9)
    return fig


def per_class_bars(run: RunRecord) -> Figure | None:
    """Precision, recall and F1 per class as grouped bars."""
    per = run.metrics.get(run.split, {}).get("per_class")
    if not per:
        return None
    names = list(per)
    x = np.arange(len(names))
    width = 0.27
    fig = Figure(figsize=(max(6, 0.6 * len(names) + 3), 4), layout="constrained")
    ax = fig.subplots()
    for i, key in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (i - 1) * width, [per[n][key] for n in names], width, label=key)
    ax.set_xticks(
        x, _short(names), rotation=45 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center"
    )
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Per-class precision, recall and F1 ({run.split})")
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return fig


def roc_pr(run: RunRecord) -> Figure | None:
    """ROC and precision-recall curves: the positive class for binary, one-vs-rest otherwise."""
    pred = run.predictions
    if pred is None:
        return None
    k = len(run.labels)
    hot = run.task.indicator(pred.y_true, k)
    classes = run.task.curve_classes(k)
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax_roc, ax_pr = fig.subplots(1, 2)
    drawn = 0
    for c in classes:
        y, score = hot[:, c], pred.probs[:, c]
        if y.min() == y.max():  # a class absent (or everywhere) has no curve
            continue
        fpr, tpr, _ = skm.roc_curve(y, score)
        precision, recall, _ = skm.precision_recall_curve(y, score)
        name = run.labels[c]
        ax_roc.plot(fpr, tpr, label=f"{name} (AUC {skm.auc(fpr, tpr):.3f})")
        ax_pr.plot(recall, precision, label=f"{name} (AP {skm.average_precision_score(y, score):.3f})")
        drawn += 1
    if not drawn:
        return None
    ax_roc.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax_pr.set(xlabel="recall", ylabel="precision", title="Precision-recall", ylim=(0, 1.02))
    for ax in (ax_roc, ax_pr):
        ax.grid(alpha=0.3)
        if drawn <= MAX_ANNOTATED:
            ax.legend(fontsize=8, loc="lower right" if ax is ax_roc else "lower left")
    return fig


def reliability_diagram(rel: Reliability) -> Figure:
    """Accuracy against confidence per bin (the diagonal is perfect calibration), counts below."""
    fig = Figure(figsize=(6, 6), layout="constrained")
    ax, ax_count = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    centres = (rel.edges[:-1] + rel.edges[1:]) / 2
    width = rel.edges[1] - rel.edges[0]
    filled = rel.count > 0
    ax.bar(centres[filled], rel.accuracy[filled], width * 0.9, color="tab:blue", label="accuracy")
    # Each bin's mean confidence as a red tick, joined to its accuracy: the gap is the error.
    ax.vlines(centres[filled], rel.accuracy[filled], rel.confidence[filled], color="tab:red", linewidth=2)
    ax.scatter(
        centres[filled],
        rel.confidence[filled],
        marker="_",
        s=900 * width,
        color="tab:red",
        linewidths=3,
        label="mean confidence",
        zorder=3,
    )
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set(ylabel="accuracy", title=f"Reliability (ECE {rel.ece:.4f})", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    ax_count.bar(centres, rel.count, width * 0.9, color="grey")
    ax_count.set(xlabel="confidence of the predicted class", ylabel="texts")
    return fig


def mcc_per_batch(scores: list[float], total: float, batch_size: int) -> Figure:
    """Matthews correlation of each evaluation batch as bars, the whole split as a line."""
    fig = Figure(figsize=(max(6, 0.12 * len(scores) + 3), 3.5), layout="constrained")
    ax = fig.subplots()
    ax.bar(range(len(scores)), scores, color="tab:blue")
    ax.axhline(total, color="red", linestyle="--", label=f"total MCC {total:.3f}")
    ax.set(
        xlabel=f"batch ({batch_size} texts each)",
        ylabel="MCC",
        title="MCC per evaluation batch",
        ylim=(-1, 1),
    )
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return fig


def loss_parts(run: RunRecord) -> Figure | None:
    """Each logged part of the objective (UDA: sup/unsup/...; R-Drop: ce/kl) over training steps."""
    parts = run.loss_parts()
    if not parts:
        return None
    train = run.rows("train")
    fig = Figure(figsize=(11, 2.6 * ((len(parts) + 1) // 2)), layout="constrained")
    axes = np.atleast_1d(fig.subplots((len(parts) + 1) // 2, 2)).ravel()
    for ax, part in zip(axes, parts, strict=False):
        _line(ax, train, part, part)
        ax.set(title=part, xlabel="step")
        ax.grid(alpha=0.3)
    for ax in axes[len(parts) :]:
        ax.set_visible(False)
    return fig


def _line(ax, rows: list[dict], key: str, label: str, **kwargs) -> None:
    points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), float) and np.isfinite(r[key])]
    if points:
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, label=label, **kwargs)


def _short(names: list[str], width: int = 14) -> list[str]:
    return [n if len(n) <= width else n[: width - 1] + "…" for n in names]
