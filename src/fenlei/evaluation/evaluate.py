"""Score a finished run on any labelled file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fenlei.data.loading import read_split
from fenlei.errors import DataError
from fenlei.evaluation.metrics import classification_metrics
from fenlei.inference.predictor import Predictor


def evaluate_file(run_dir: str | Path, path: str | Path, unseen_labels: str | None = None) -> dict:
    """Metrics of the run's model on ``path``, read with the run's data settings."""
    predictor = Predictor(run_dir)
    data_cfg = predictor.config.data
    examples = read_split(data_cfg, str(path), "test")
    policy = unseen_labels or data_cfg.unseen_labels
    if predictor.multi_label:
        return _evaluate_multi_label(predictor, examples, path, policy)
    ids, kept = predictor.labels.encode(examples.labels, unseen=policy, source=examples.source)
    if not kept:
        raise DataError(f"{path}: no rows left to evaluate (every label is unseen; see --unseen-labels)")
    texts = [examples.texts[i] for i in kept]
    probs = predictor.predict_proba(texts)
    metrics = classification_metrics(np.asarray(ids), probs, predictor.labels.names)
    metrics["skipped"] = {k: v for k, v in examples.skipped.items() if v}
    if len(kept) != len(examples):
        metrics["skipped"]["unseen_label"] = len(examples) - len(kept)
    metrics["file"] = str(path)
    return metrics


def _evaluate_multi_label(predictor: Predictor, examples, path: str | Path, policy: str) -> dict:
    """Multi-label metrics at the run's tuned thresholds (thresholds.json)."""
    from fenlei.data.multilabel import drop_unsplit, encode_multi
    from fenlei.evaluation.multilabel import multilabel_metrics

    names = predictor.labels.names
    examples = drop_unsplit(examples, predictor.config.data.label_separator, names)
    hots, kept = encode_multi(predictor.labels, examples.labels, unseen=policy, source=examples.source)
    if not kept:
        raise DataError(f"{path}: no labelled rows left to evaluate (see data.unseen_labels)")
    probs = predictor.predict_proba([examples.texts[i] for i in kept])
    metrics = multilabel_metrics(
        np.asarray(hots).reshape(len(kept), len(names)), probs, names, predictor.thresholds
    )
    metrics["skipped"] = {k: v for k, v in examples.skipped.items() if v}
    if len(kept) != len(examples):
        metrics["skipped"]["unseen_label"] = len(examples) - len(kept)
    metrics["file"] = str(path)
    return metrics
