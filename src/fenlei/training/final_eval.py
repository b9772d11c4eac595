"""After the loop: the best weights scored on dev and test, the decision rule tuned on dev,
and predictions.tsv for the report."""

from __future__ import annotations

import time
from collections.abc import Callable

from fenlei.config import Config
from fenlei.data.batching import Batches
from fenlei.data.loading import Splits
from fenlei.models import eval_batch_size
from fenlei.rundir import RunDir
from fenlei.task import Task


def final_metrics(
    cfg: Config,
    task: Task,
    trainer,
    splits: Splits,
    encoder,
    dev_b: Batches,
    rd: RunDir | None,
    refit: Callable[[], None] | None = None,
) -> dict:
    """Dev and test metrics of the best weights; thresholds.json and predictions.tsv into ``rd``
    unless it is None (a DDP rank other than 0, which only helps evaluate). ``refit`` (train.refit)
    retrains the model on train + dev once dev is scored, before test is."""
    names = splits.labels.names
    dev_metrics, dev_probs = trainer.evaluate(dev_b)
    # The decision rule (multi-label thresholds) is tuned on dev once the best weights are back,
    # then used for the reported dev/test metrics and saved for evaluate/predict.
    task.tune(dev_b.labels, dev_probs, cfg.train.threshold)
    if rd is not None:
        rd.save_decision(task, names)
    metrics = {"dev": _rescore(task, dev_metrics, dev_b.labels, dev_probs, names), "metric": cfg.train.metric}
    if refit is not None:
        refit()
    if splits.test is None:  # the report still gets per-text predictions: dev's
        if rd is not None:
            rd.write_predictions(task, splits.dev.texts, splits.dev_ids, dev_probs, names)
        return metrics
    test_b = Batches(
        encoder.encode(splits.test.texts),
        splits.test_ids,
        eval_batch_size(cfg.train, cfg.model.name),
        encoder.pad_id,
    )
    t0 = time.perf_counter()
    test_metrics, probs = trainer.evaluate(test_b)
    seconds = time.perf_counter() - t0
    test_metrics = _rescore(task, test_metrics, test_b.labels, probs, names)
    test_metrics["texts_per_second"] = len(splits.test) / max(seconds, 1e-9)
    metrics["test"] = test_metrics
    if rd is not None:
        rd.write_predictions(task, splits.test.texts, splits.test_ids, probs, names)
    return metrics


def _rescore(task: Task, metrics: dict, y_true, probs, names: list[str]) -> dict:
    """The metrics at the tuned decision rule; the loss does not depend on it and stays."""
    return {**task.score(y_true, probs, names), "loss": metrics["loss"]}
