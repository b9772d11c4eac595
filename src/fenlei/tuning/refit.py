"""``fenlei tune --refit``: the best config trained again on train + dev."""

from __future__ import annotations

import copy
import math
from pathlib import Path

from fenlei.config import load_config
from fenlei.rundir import RunDir


def refit(config, sets, result, run_dir: Path, say) -> Path:
    """The best config trained on train + dev (dev is then inside train: judge the refit on test),
    for as many epochs as the best trial needed to reach its best dev score."""
    from fenlei.data.examples import Examples
    from fenlei.data.loading import load_splits
    from fenlei.training.pipeline import train

    cfg = load_config(config, [*sets, *result.best_overrides])
    best = RunDir(result.best_run).read_metrics()["train"]
    if best.get("steps") and best.get("epochs"):
        per_epoch = best["steps"] / best["epochs"]
        cfg.train.epochs = max(1, math.ceil(best["best_step"] / per_epoch))
    splits = load_splits(copy.deepcopy(cfg.data))
    joined = Examples(
        list(splits.train.texts) + list(splits.dev.texts),
        list(splits.train.labels) + list(splits.dev.labels),
        "train+dev",
    )
    dev = Examples(list(splits.dev.texts), list(splits.dev.labels), "dev")
    say(f"refit on train + dev ({len(joined.texts)} texts, {cfg.train.epochs} epochs)")
    run = train(cfg, run_dir, train=joined, dev=dev, test=splits.test, quiet=True)
    return run.run_dir
