"""``fenlei tune``: an Optuna search over a recipe's search space, every trial a normal run.

Each trial is ``train`` on the recipe plus the sampled ``--set`` overrides (DESIGN.md §1: tune
calls train and never reaches inside it), with a pruner fed by each dev evaluation and a hard
deadline. The study lives in ``DIR/study.db`` (or ``--storage``), so a killed search resumes
with the same command and several workers can share one study; each worker keeps its own
``-o`` directory for its trial runs and its share of the time budget (``tune.json``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from fenlei.config import Config, load_config
from fenlei.errors import ConfigError, FenleiError, TrainingInterrupted
from fenlei.evaluation.metrics import LOWER_IS_BETTER
from fenlei.tuning.callbacks import Deadline, Pruning
from fenlei.tuning.confirm import SHARE as CONFIRM_SHARE
from fenlei.tuning.confirm import confirm_top, confirmed_best, mean_value
from fenlei.tuning.limits import (
    check_limits,
    duration_text,
    fit_fits,
    parse_duration,
    parse_size_mb,
    texts_for_latency,
)
from fenlei.tuning.outcome import feasible, tell
from fenlei.tuning.refit import refit
from fenlei.tuning.space import LOOP_SPACE, Dim, apply_recipe, declared_space, merge_spaces, override
from fenlei.tuning.state import read_state, write_state

STUDY_DB = "study.db"
BEST_CONFIG = "best.yaml"
TRIALS = "trials"
REFIT = "refit"
STUDY_NAME = "fenlei"
# What every trial sets: the report is written once, for the best trial, at the end.
TRIAL_SETS = ["train.report=false", "train.tensorboard=false"]


@dataclass
class TuneOptions:
    """The limits of one ``fenlei tune`` command."""

    time_s: float
    trials: int | None = None  # stop after this many finished trials (all workers); None = time only
    metric: str | None = None  # dev metric to optimise; None = the recipe's train.metric
    max_size_mb: float | None = None  # reject trials whose model files are larger
    max_latency_ms: float | None = None  # reject trials slower than this per single text
    storage: str | None = None  # an Optuna storage URL; default sqlite:///DIR/study.db
    refit: bool = False  # train the best config again on train + dev
    seed: int = 0  # the sampler's seed


@dataclass
class TuneResult:
    """What ``tune`` returns: the best trial's run, its value and config, and the counts."""

    out_dir: Path
    best_run: Path | None
    best_value: float | None
    best_overrides: list[str]
    metric: str
    counts: dict[str, int] = field(default_factory=dict)
    refit_run: Path | None = None


def search_space(cfg: Config) -> dict[str, Dim]:
    """The space of ``cfg``'s family and objective (resolved as train would), after its ``tune`` section."""
    from fenlei.models import model_class
    from fenlei.objectives import objective_spec
    from fenlei.resolve import resolve

    cfg = copy.deepcopy(cfg)
    resolve(cfg)
    family = model_class(cfg.model.name)
    spaces = [] if family.closed_form else [LOOP_SPACE]
    spaces.append(declared_space(objective_spec(cfg.objective.name).params_class, "objective"))
    spaces.append(declared_space(family.params_class, "model"))
    return apply_recipe(merge_spaces(*spaces), cfg.tune.space, cfg.tune.keys)


def run_tune(
    config: str | Path | None, sets: list[str], out_dir: str | Path, opts: TuneOptions, say=print
) -> TuneResult:
    """Search until the time or the trial count runs out; writes best.yaml and tune.html in ``out_dir``."""
    import optuna

    out = Path(out_dir)
    sets = list(sets) + ([f"train.metric={opts.metric}"] if opts.metric else [])
    base = load_config(config, sets)
    resolved = copy.deepcopy(base)
    from fenlei.resolve import resolve

    resolve(resolved)  # a metric the task lacks, a bad file: said before anything is written
    metric = resolved.train.metric
    space = search_space(base)
    if not space:
        raise ConfigError("the search space is empty: tune.keys names no key; remove it or name keys")
    storage = opts.storage or f"sqlite:///{writable_dir(out) / STUDY_DB}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "minimize" if metric in LOWER_IS_BETTER else "maximize"
    # Optuna's default waits 10 random trials before TPE models anything; a CPU budget often holds
    # fewer, so TPE starts after 4 (the recipe and 3 random) and models the keys jointly.
    sampler = optuna.samplers.TPESampler(seed=opts.seed, n_startup_trials=4, multivariate=True)
    # no pruning before a trial's third dev evaluation: early epochs of a good config are noisy
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    try:
        study = optuna.create_study(
            study_name=STUDY_NAME,
            storage=storage,
            load_if_exists=True,
            direction=direction,
            sampler=sampler,
            pruner=pruner,
        )
    except Exception as err:  # sqlalchemy's errors for a path it cannot open or create
        raise FenleiError(
            f"--storage {storage}: cannot open the study ({err}); give a writable path"
        ) from None
    if _check_same_search(study, base, space, metric):  # a new study: the recipe itself goes first
        start = start_values(resolved, space)
        if start:
            study.enqueue_trial(start)
    worker = str(out.resolve())
    _fail_dead_trials(study, worker)
    state = read_state(out)
    budget_left = opts.time_s - state["seconds_used"]
    if budget_left <= 0:
        say(f"{out}: this search used its {duration_text(opts.time_s)}; give a larger --time to go on")
    started = time.monotonic()
    end = started + max(budget_left, 0)
    from fenlei.models import model_class

    confirming = not model_class(resolved.model.name).closed_form  # a closed-form fit has no seed luck
    deadline = end - (max(budget_left, 0) * CONFIRM_SHARE if confirming else 0.0)  # the search's part
    splits = None
    try:
        while time.monotonic() < deadline and not _enough(study, opts.trials):
            left_s = deadline - time.monotonic()
            if not confirming and not fit_fits(study, left_s):  # no deadline stops a closed-form fit
                say(f"stopped: another fit would not end in the {duration_text(left_s)} left")
                break
            trial = study.ask({key: dim.distribution() for key, dim in space.items()})
            trial.set_user_attr("worker", worker)
            overrides = [override(k, space[k].value(v)) for k, v in trial.params.items()]
            run_dir = out / TRIALS / f"{trial.number:04d}"
            left = duration_text(deadline - time.monotonic())
            say(f"trial {trial.number} ({left} left): {' '.join(overrides)}")
            try:
                outcome = _run_trial(config, sets, overrides, run_dir, trial, metric, deadline)
            except (TrainingInterrupted, KeyboardInterrupt):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise TrainingInterrupted(
                    f"search stopped during trial {trial.number}; the study keeps its {_finished(study)} "
                    "finished trials: run the same command to continue"
                ) from None
            if outcome.get("metrics") is not None and (opts.max_size_mb or opts.max_latency_ms):
                if splits is None:
                    splits = texts_for_latency(resolved)
                outcome.update(check_limits(run_dir, opts, splits))
            tell(study, trial, outcome, metric, say)
            state["seconds_used"] += time.monotonic() - started
            started = time.monotonic()
            write_state(out, state)
            if outcome.get("budget_hit") and _finished(study) == 0:
                need = outcome.get("full_seconds")
                hint = f"; one trial needs about {duration_text(need * 1.2 + 30)}" if need else ""
                raise FenleiError(
                    f"--time {duration_text(opts.time_s)} is too small for one trial of {resolved.model.name}"
                    f" on this data{hint}: give at least that"
                )
        if confirming:

            def overrides_of(t):
                return [override(k, space[k].value(v)) for k, v in t.params.items()]

            confirm_top(study, config, sets, overrides_of, out, state, metric, direction, end, say)
    finally:
        state["seconds_used"] += time.monotonic() - started
        write_state(out, state)
    result = _finish(study, out, config, sets, metric, direction, say, state)
    if opts.refit and result.best_overrides is not None and result.best_run is not None:
        result.refit_run = refit(config, sets, result, out / REFIT, say)
    return result


def tune(
    config: str | Path | None = None,
    output: str | Path = "runs/tune",
    *,
    time: str | float = "30m",
    trials: int | None = None,
    metric: str | None = None,
    max_size: str | float | None = None,
    max_latency_ms: float | None = None,
    storage: str | None = None,
    refit: bool = False,
    seed: int = 0,
    sets: list[str] | tuple[str, ...] = (),
    quiet: bool = False,
) -> TuneResult:
    """``fenlei tune`` from Python: search ``config`` (a recipe path, or None for the defaults plus
    ``sets``) within ``time`` (seconds or "30m"); ``result.best_run`` is the best trial's run."""
    opts = TuneOptions(
        time_s=parse_duration(time) if isinstance(time, str) else float(time),
        trials=trials,
        metric=metric,
        max_size_mb=parse_size_mb(max_size) if isinstance(max_size, str) else max_size,
        max_latency_ms=max_latency_ms,
        storage=storage,
        refit=refit,
        seed=seed,
    )
    return run_tune(config, list(sets), output, opts, say=(lambda _line: None) if quiet else print)


def _run_trial(config, sets, overrides, run_dir: Path, trial, metric: str, deadline: float) -> dict:
    """Train one trial; what happened, as plain data for ``outcome.tell``."""
    from fenlei.training.pipeline import train

    try:
        cfg = load_config(config, [*sets, *overrides, *TRIAL_SETS])
    except FenleiError as err:  # a combination the family refuses
        return {"error": str(err)}
    pruning, clock = Pruning(trial, metric), Deadline(deadline)
    t0 = time.monotonic()
    try:
        result = train(cfg, run_dir, callbacks=[pruning, clock], quiet=True)
    except TrainingInterrupted:
        raise
    except FenleiError as err:
        return {"error": str(err), "seconds": time.monotonic() - t0}
    return {
        "metrics": result.metrics,
        "pruned": pruning.pruned,
        "budget_hit": clock.hit,
        "full_seconds": clock.full_run_seconds(),
        "seconds": time.monotonic() - t0,
        "run_dir": str(run_dir),
    }


def _finish(study, out: Path, config, sets, metric, direction, say, state: dict) -> TuneResult:
    """Pick the best feasible trial (by its mean over the confirmation seeds when it has them),
    write best.yaml, its report and tune.html."""
    import optuna

    from fenlei.tuning.report import write_tune_report

    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    feasible_trials = [t for t in done if feasible(t)]
    counts = _counts(study)
    best = confirmed_best(feasible_trials, state, direction)
    result = TuneResult(out, None, None, [], metric, counts)
    if best is not None:
        space = search_space(load_config(config, sets))
        result.best_overrides = [
            override(k, space[k].value(v)) if k in space else override(k, v) for k, v in best.params.items()
        ]
        result.best_value = mean_value(best, state)
        run = best.user_attrs.get("run_dir")
        result.best_run = Path(run) if run and Path(run).is_dir() else None
        load_config(config, [*sets, *result.best_overrides]).save(out / BEST_CONFIG)
        if result.best_run is not None:  # trials skip their reports; the winner gets one
            from fenlei.evaluation.report import write_report

            write_report(result.best_run)
    page = write_tune_report(study, out, metric, result)
    line = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    if best is None:
        say(f"no trial finished within the limits ({line or 'none ran'}); see {page}")
    else:
        seeds = "" if result.best_value == best.value else " (mean over its seeds)"
        say(f"best: trial {best.number}, dev {metric} {result.best_value:.4f}{seeds} ({line}); "
            f"{out / BEST_CONFIG}, {page}")  # fmt: skip
    return result


def _counts(study) -> dict[str, int]:
    import optuna

    states = [t.state for t in study.get_trials(deepcopy=False)]
    S = optuna.trial.TrialState
    rejected = sum(1 for t in study.get_trials(deepcopy=False) if t.user_attrs.get("rejected"))
    return {
        "complete": states.count(S.COMPLETE) - rejected,
        "rejected": rejected,
        "pruned": states.count(S.PRUNED),
        "failed": states.count(S.FAIL),
        "running": states.count(S.RUNNING),
    }


def _finished(study) -> int:
    import optuna

    S = optuna.trial.TrialState
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state in (S.COMPLETE, S.PRUNED))


def _enough(study, trials: int | None) -> bool:
    return trials is not None and _finished(study) >= trials


def _fail_dead_trials(study, worker: str) -> None:
    """Trials this directory left running when its process was killed: failed, not finished."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if t.user_attrs.get("worker") == worker:
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)


def start_values(resolved: Config, space: dict[str, Dim]) -> dict:
    """The recipe's own value of every key of the space that the space can hold, as the sampler
    stores it, so that the first trial is the recipe and the search can only improve on it (dev)."""
    tree = resolved.to_dict()
    out = {}
    for key, dim in space.items():
        section, _, name = key.partition(".")
        value = tree.get(section, {}).get(name)
        stored = dim.stored(value)
        if stored is not None:
            out[key] = stored
    return out


def _check_same_search(study, cfg: Config, space: dict[str, Dim], metric: str) -> bool:
    """A study holds one search: refuse to mix trials of another config, space or metric into it.
    True when the study is new."""
    fingerprint = hashlib.sha256(
        json.dumps(
            [cfg.to_dict(), {k: repr(v) for k, v in sorted(space.items())}, metric],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:16]
    seen = study.user_attrs.get("fingerprint")
    if seen is None:
        study.set_user_attr("fingerprint", fingerprint)
        return True
    if seen != fingerprint:
        raise FenleiError(
            "this study holds trials of another config, search space or metric; "
            "give another -o (or --storage), or delete the old study to start over"
        )
    return False


def writable_dir(out: Path) -> Path:
    """``out``, made if missing; a clear error when nothing can be written there."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise FenleiError(f"-o {out}: cannot write there ({err.strerror}); choose another folder") from None
    return out
