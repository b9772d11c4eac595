"""Seeds against luck: the best few trials trained again with other seeds before one is chosen.

On a dev set of a few hundred texts the top trial of a search often leads by noise (SST-2: a
0.81 dev winner that lost 0.9 points of test accuracy to the recipe it started from). So the
last share of a search's time trains the ``TOP`` trials with ``SEEDS`` more seeds each, one seed
round at a time (a share that holds three runs gives each trial one more seed, not the first
trial two), and the winner is the best mean dev score over the seeds every confirmed trial has.
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
    top = _ranked(study, direction)[:TOP]
    for k in range(1, SEEDS + 1):  # round k: the k-th extra seed of every top trial
        for trial in top:
            base_seed = load_config(config, [*sets, *overrides_of(trial)]).train.seed
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
    """The trial with the best mean dev score among those confirmed, each averaged over as many
    seeds as the least-confirmed of them has (all candidates, one seed, when none was); None for
    no candidates."""
    extra = state.get("confirm", {})
    counts = [len(extra.get(str(t.number), [])) for t in candidates]
    rounds = min((c for c in counts if c), default=0)
    pool = [t for t, c in zip(candidates, counts, strict=True) if c >= rounds]
    if not pool:
        return None
    pick = min if direction == "minimize" else max
    return pick(pool, key=lambda t: mean_value(t, state, rounds))


def mean_value(trial, state: dict, rounds: int | None = None) -> float:
    """The trial's dev score averaged with its confirmation seeds (the first ``rounds`` of them)."""
    extra = state.get("confirm", {}).get(str(trial.number), [])
    return statistics.fmean([float(trial.value), *extra[:rounds]])


def _ranked(study, direction: str) -> list:
    import optuna

    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if all(v <= 0 for v in t.constraints.values())
    ]
    return sorted(done, key=lambda t: t.value, reverse=direction == "maximize")
