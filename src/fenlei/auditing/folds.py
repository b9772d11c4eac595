"""The k folds of an audit: a stratified, seeded split of the train texts, one ordinary ``train``
per fold on the other folds, and each text's probabilities from the fold that held it out.

A fold's run trains on the other k-1 folds, with its dev split off those (data.dev_ratio), and is
tested on the held-out fold: the held-out texts are never trained on nor used to choose the
model, so their probabilities (the run's predictions.tsv) are out of fold.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fenlei.data.examples import Examples
from fenlei.errors import ConfigError, DataError, FenleiError, RunDirError, TrainingInterrupted
from fenlei.rundir import RunDir


@dataclass
class FoldRun:
    """One fold: where its run is and how it did on the texts it held out."""

    fold: int  # 1-based
    run_dir: Path
    train: int  # texts trained on (its dev split included)
    held_out: int
    metrics: dict  # the held-out fold's test metrics
    seconds: float
    reused: bool = False


def check_folds(labels: list[str], folds: int, source: str) -> None:
    """Raise a FenleiError unless every class has at least ``folds`` texts (and ``folds`` >= 2)."""
    if folds < 2:
        raise ConfigError(f"--folds {folds}: an audit needs at least 2 folds (5 is usual)")
    counts = Counter(labels)
    if len(counts) < 2:
        only = next(iter(counts), "?")
        raise DataError(f"{source}: every text is labelled {only!r}; an audit needs at least 2 classes")
    label, fewest = min(counts.items(), key=lambda kv: (kv[1], str(kv[0])))
    if fewest >= folds:
        return
    if fewest < 2:
        raise DataError(
            f"{source}: class {label!r} has {fewest} text; an audit needs at least 2 texts of every "
            "class: add texts of it or drop its rows"
        )
    raise DataError(
        f"{source}: class {label!r} has {fewest} texts, fewer than --folds {folds}; give --folds "
        f"{fewest} (the most that works here) or fewer, or add texts of {label!r}"
    )


def assign_folds(labels: list[str], folds: int, seed: int) -> np.ndarray:
    """The 0-based fold of every text: stratified by label, shuffled under ``seed``."""
    from sklearn.model_selection import StratifiedKFold

    fold_of = np.empty(len(labels), dtype=np.int64)
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for f, (_, held) in enumerate(split.split(np.zeros(len(labels)), labels)):
        fold_of[held] = f
    return fold_of


def run_folds(
    make_config: Callable[[], object],
    task,
    examples: Examples,
    names: list[str],
    fold_of: np.ndarray,
    folds_dir: Path,
    say=print,
) -> tuple[np.ndarray, list[FoldRun]]:
    """Train every fold (a finished fold run already in ``folds_dir`` is reused) and return the
    out-of-fold probabilities [N, C] in ``names`` order, with the fold runs.

    ``make_config``: a fresh Config per fold (train fills a config in as it resolves it);
    ``task``: its label scheme, which reads the runs' predictions.tsv.
    """
    from fenlei.training.pipeline import train

    k = int(fold_of.max()) + 1
    probs = np.full((len(examples), len(names)), np.nan)
    runs: list[FoldRun] = []
    for f in range(k):
        held = np.flatnonzero(fold_of == f)
        rest = np.flatnonzero(fold_of != f)
        run_dir = folds_dir / str(f + 1)
        rd = RunDir(run_dir)
        t0 = time.monotonic()
        reused = rd.finished
        if reused:
            say(f"fold {f + 1}/{k}: reusing the finished run {run_dir}")
            metrics = rd.read_metrics()
        else:
            say(f"fold {f + 1}/{k}: training on {len(rest):,} texts, {len(held):,} held out")
            if run_dir.exists():  # what a killed audit left of this fold
                shutil.rmtree(run_dir)
            cfg = make_config()
            train_ex, held_ex = examples.subset(rest.tolist()), examples.subset(held.tolist())
            try:
                metrics = train(cfg, run_dir, train=train_ex, test=held_ex, quiet=True).metrics
            except TrainingInterrupted:
                raise TrainingInterrupted(
                    f"audit stopped during fold {f + 1}/{k}; run the same command to go on (the finished "
                    "folds are reused)"
                ) from None
        seconds = time.monotonic() - t0
        probs[held] = _held_out_probs(rd, task, names, held)
        test = metrics.get("test") or {}
        runs.append(FoldRun(f + 1, run_dir, len(rest), len(held), test, seconds, reused))
        if not reused:
            acc = test.get("accuracy")
            said = f"held-out accuracy {acc:.4f}" if acc is not None else "done"
            say(f"  {said} in {seconds:.1f} s")
    return probs, runs


def _held_out_probs(rd: RunDir, task, names: list[str], held: np.ndarray) -> np.ndarray:
    """The fold run's predictions.tsv as probabilities [len(held), C] in ``names`` order."""
    fold_names = rd.read_labels().names
    missing = sorted(set(names) - set(fold_names))
    if missing:
        raise RunDirError(
            f"{rd}: the fold's run never saw class(es) {missing}; delete {rd.path.parent} and run the "
            "audit again"
        )
    pred = rd.read_predictions(task, fold_names)
    if pred is None or len(pred.texts) != len(held):
        got = 0 if pred is None else len(pred.texts)
        raise FenleiError(
            f"{rd}: predictions.tsv holds {got} rows for the {len(held)} held-out texts; delete "
            f"{rd.path.parent} and run the audit again"
        )
    order = [fold_names.index(n) for n in names]
    return pred.probs[:, order]
