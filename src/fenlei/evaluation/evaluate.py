"""Score a finished run on any labelled file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fenlei.data.loading import read_split
from fenlei.errors import DataError
from fenlei.inference.predictor import Predictor


def evaluate_file(run_dir: str | Path, path: str | Path, unseen_labels: str | None = None) -> dict:
    """Metrics of the run's model on ``path``, read with the run's data settings (single-label at
    argmax, multi-label at the run's tuned thresholds)."""
    predictor = Predictor(run_dir)
    task, names = predictor.task, predictor.labels.names
    data_cfg = predictor.config.data
    examples = task.prepare(read_split(data_cfg, str(path), "test", cells=task.cells), names)
    policy = unseen_labels or data_cfg.unseen_labels
    ids, kept = task.encode(predictor.labels, examples.labels, unseen=policy, source=examples.source)
    if not kept:
        raise DataError(f"{path}: no rows left to evaluate (every label is unseen; see --unseen-labels)")
    probs = predictor.predict_proba([examples.texts[i] for i in kept])
    metrics = task.score(np.asarray(ids), probs, names)
    metrics["skipped"] = {k: v for k, v in examples.skipped.items() if v}
    if len(kept) != len(examples):
        metrics["skipped"]["unseen_label"] = len(examples) - len(kept)
    metrics["file"] = str(path)
    return metrics
