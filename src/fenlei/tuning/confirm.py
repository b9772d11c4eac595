"""Seeds against luck: the best few trials trained again with other seeds before one is chosen.

On a dev set of a few hundred texts the top trial of a search often leads by noise (SST-2: a
0.81 dev winner that lost 0.9 points of test accuracy to the recipe it started from). So the
last share of a search's time trains the ``TOP`` trials with ``SEEDS`` more seeds each, and the
winner is the best mean dev score among the trials that were confirmed this way.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from fenlei.config import load_config
from fenlei.errors import FenleiError
from fenlei.tuning.callbacks import Deadline

CONFIRM = "confirm"  # DIR/confirm/NNNN-sK: the extra-seed runs (not Optuna trials)
SHARE = 0.3  # of a search's time kept for confirming, for a family trained by the loop
TOP = 3
SEEDS = 2


def confirm_top(
    study,
    config,
    sets,
    overrides_of,
    out: Path,
    state: dict,
    metric: str,
    direction: str,
    deadline: float,
    say,
) -> None:
    """Train the best ``TOP`` complete trials with ``SEEDS`` more seeds each, until ``deadline``;
    their dev scores go to ``state["confirm"][trial number]`` (tune.json)."""
    from fenlei.training.pipeline import train

    done = state.setdefault("confirm", {})
    for trial in _ranked(study, direction)[:TOP]:
        base_seed = load_config(config, [*sets, *overrides_of(trial)]).train.seed
        for k in range(1, SEEDS + 1):
            key = str(trial.number)
            if len(done.get(key, [])) >= k:
                continue  # a resumed search keeps what it confirmed
            if time.monotonic() >= deadline:
                return
            cfg = load_config(config, [*sets, *overrides_of(trial), f"train.seed={base_seed + k}"])
            cfg.train.report = False
            clock = Deadline(deadline)
            try:
                result = train(cfg, out / CONFIRM / f"{trial.number:04d}-s{k}", callbacks=[clock], quiet=True)
            except FenleiError as err:
                say(f"confirm trial {trial.number}, seed {base_seed + k}: failed ({err})")
                return
            if clock.hit:
                return  # a run cut short by the budget says nothing about the seed
            value = float(result.metrics["dev"][metric])
            done.setdefault(key, []).append(value)
            say(f"confirm trial {trial.number}, seed {base_seed + k}: dev {metric} {value:.4f}")


def confirmed_best(candidates: list, state: dict, direction: str):
    """The trial with the best mean dev score over its seeds among those confirmed with every
    extra seed (all candidates when none was); None for no candidates."""
    extra = state.get("confirm", {})
    full = [t for t in candidates if len(extra.get(str(t.number), [])) >= SEEDS]
    pool = full or candidates
    if not pool:
        return None
    pick = min if direction == "minimize" else max
    return pick(pool, key=lambda t: mean_value(t, state))


def mean_value(trial, state: dict) -> float:
    """The trial's dev score averaged with its confirmation seeds."""
    return statistics.fmean([float(trial.value), *state.get("confirm", {}).get(str(trial.number), [])])


def _ranked(study, direction: str) -> list:
    import optuna

    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if all(v <= 0 for v in t.constraints.values())
    ]
    return sorted(done, key=lambda t: t.value, reverse=direction == "maximize")
