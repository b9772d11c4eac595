"""``fenlei auto``: the best model for a file within a time budget, across families.

Profile the data, probe the candidate families cheapest first (each at its defaults, under a
deadline, so the probe also says how long the family takes here), then share what is left of
the budget among the best probed families and tune within each share (``run_tune``). Every
probe and trial is an ordinary run directory; the one with the best dev metric (within the
size and latency limits) is copied to ``DIR/best``, a run that ``predict``, ``serve`` and
``export`` take as it is, and ``DIR/auto.html`` shows every candidate against its cost.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from fenlei.config import load_config
from fenlei.errors import FenleiError
from fenlei.evaluation.bootstrap import RESAMPLES, verdict
from fenlei.evaluation.metrics import LOWER_IS_BETTER
from fenlei.rundir import SCRATCH
from fenlei.tuning.callbacks import Deadline
from fenlei.tuning.candidates import (
    Candidate,
    against_runners_up,
    pick_auto_winner,
    pick_winner,
    read_candidate,
    trial_candidates,
)
from fenlei.tuning.limits import duration_text, texts_for_latency, time_epoch
from fenlei.tuning.live import SearchStatus
from fenlei.tuning.state import seconds_used
from fenlei.tuning.study import TuneOptions, run_tune

BEST = "best"
PROBES = "probes"
RESERVE = 0.05  # of the budget, kept for the final evaluations, the copy and the page
TUNE_SHARES = (2 / 3, 1 / 3)  # of what the probes leave, for the best and the second-best family
TIMING_SHARE = 0.05  # of the budget, at most, for timing one family's epoch on a sample
MIN_TUNE_S = 30.0  # a share smaller than this is not worth a search
LAST_SHARE = 0.7  # of the time left, for the run of the last candidate (a transformer)


@dataclass
class AutoResult:
    """What ``auto`` returns: the winner's copy in DIR/best and every candidate."""

    out_dir: Path
    best_run: Path | None
    metric: str
    language: str
    candidates: list[Candidate] = field(default_factory=list)
    winner: Candidate | None = None
    seconds: float = 0.0
    why: str = ""  # why the winner is not the best dev run (a cheaper family within its error)


def run_auto(
    train: str,
    dev: str | None,
    test: str | None,
    out_dir: str | Path,
    time_s: float,
    *,
    metric: str | None = None,
    max_size_mb: float | None = None,
    max_latency_ms: float | None = None,
    seed: int = 0,
    sets: list[str] | None = None,
    families: list[str] | None = None,
    say=print,
    live: bool = False,
) -> AutoResult:
    """Search every candidate family (or ``families``) within ``time_s`` seconds; the best dev run
    ends in DIR/best. ``live``: one status line on the terminal under the log (SearchStatus)."""
    status = SearchStatus(time.monotonic() + time_s) if live else None
    if status is None:
        return _search(train, dev, test, out_dir, time_s, metric, max_size_mb, max_latency_ms, seed, sets,
                       families, say, None)  # fmt: skip
    with status:
        return _search(train, dev, test, out_dir, time_s, metric, max_size_mb, max_latency_ms, seed, sets,
                       families, status.say, status)  # fmt: skip


def _search(train, dev, test, out_dir, time_s, metric, max_size_mb, max_latency_ms, seed, sets, families, say,
            status) -> AutoResult:  # fmt: skip
    def show(**fields: str) -> None:
        if status is not None:
            status.update(**fields)

    from fenlei.data.loading import load_splits
    from fenlei.data.profile import profile_data, summary_lines
    from fenlei.models import list_models, model_class
    from fenlei.resolve import resolve

    started = time.monotonic()
    deadline = started + time_s * (1 - RESERVE)
    out = Path(out_dir)
    base = [
        _train_key(train),
        *([f"data.dev={dev}"] if dev else []),
        *([f"data.test={test}"] if test else []),
    ]
    base += [*(sets or []), *([f"train.metric={metric}"] if metric else []), "train.report=false"]
    # the data and the metric checked once; model.* settings belong to the families that take them
    resolved = load_config(None, [s for s in base if not s.startswith("model.")])
    resolve(resolved)
    metric = resolved.train.metric
    splits = load_splits(resolved.data)
    profile = profile_data(splits)
    say(f"profile: language {profile.language}, {len(splits.train):,} train / {len(splits.dev):,} dev texts")
    for line in [*summary_lines(profile), *profile.warnings]:
        say(f"profile: {line}")
    if families:
        for name in families:
            model_class(name)  # an unknown name: a ConfigError listing the known ones
    else:
        families = [n for n in list_models() if model_class(n).auto_rank is not None]
    families = sorted(
        families, key=lambda n: (model_class(n).auto_rank is None, model_class(n).auto_rank or 0)
    )
    lat_texts = texts_for_latency(resolved, splits) if max_latency_ms else []  # the splits read above
    limits = (max_size_mb, max_latency_ms, lat_texts)
    candidates: list[Candidate] = []
    probed: list[tuple[str, Candidate, list[str]]] = []

    given = {item.split("=", 1)[0] for item in sets or []}

    def family_sets(name: str) -> list[str]:
        # what the user set wins over what auto would choose (e.g. model.pretrained)
        chosen = [s for s in model_class(name).auto_sets(profile.language) if s.split("=", 1)[0] not in given]
        return [f"model.name={name}", *chosen]

    def timing_of(name: str):
        show(family=name, stage="timing an epoch on a sample", trial="")
        run_dir = out / PROBES / f"{name}-timing"
        # at most 5% of the budget on timing one family
        return time_epoch(
            base + family_sets(name), splits, run_dir, model_class(name), say, time_s * TIMING_SHARE
        )

    # The last family (a pretrained encoder) usually wins by points where an epoch of it fits, so
    # its time is set aside before the cheap families share the rest: without that, their runs at
    # defaults left it too little for one epoch (SST-2 on this CPU: 3 of 10 minutes gone first).
    timings: dict[str, tuple[float, float] | None] = {}
    reserve_s = 0.0
    if families and model_class(families[-1]).pretrained_weights:
        last = families[-1]
        timings[last] = timing_of(last)
        if timings[last] is not None:
            epoch_s, overhead_s = timings[last]
            room = (deadline - time.monotonic()) * LAST_SHARE
            fits = min(int((room - overhead_s) // max(epoch_s, 1e-6)), _epochs(base + family_sets(last)))
            if fits >= 1:
                reserve_s = overhead_s + fits * epoch_s
            say(f"  {last}: an epoch takes about {duration_text(epoch_s)} here (timed on a sample); "
                + (f"{duration_text(reserve_s)} set aside for {fits} epoch(s)" if fits >= 1
                   else f"not even one fits in {duration_text(room)}"))  # fmt: skip
    for i, family in enumerate(families):
        left = deadline - time.monotonic()
        cls = model_class(family)
        if i == len(families) - 1:  # the last (costliest) family: its reserve, or most of what is left
            cap = min(left, max(left * LAST_SHARE, reserve_s))
        else:  # the runs at defaults together leave a share for tuning
            cap = (left - reserve_s) / (len(families) - i)
        fam_sets = family_sets(family)
        epochs_sets: list[str] = []
        if not cls.closed_form:  # time an epoch on a sample first: a family too slow here is skipped
            timing = timings[family] if family in timings else timing_of(family)
            if timing is None:
                continue
            epoch_s, overhead_s = timing
            epochs = _epochs(base + fam_sets)
            fits = int((cap - overhead_s) // max(epoch_s, 1e-6))
            if fits < 1:
                say(f"[{duration_text(left)} left] {family}: skipped, an epoch takes about "
                    f"{duration_text(epoch_s)} here and its share is {duration_text(cap)}")  # fmt: skip
                continue
            if fits < epochs:
                epochs_sets = [f"train.epochs={fits}"]
        how = f"{epochs_sets[0]}" if epochs_sets else "its defaults"
        show(family=family, stage=f"at {how}", trial="")
        say(f"[{duration_text(left)} left] {family} at {how} (at most {duration_text(cap)})")
        cand = _probe(
            base + fam_sets + epochs_sets, out / PROBES / family, family, time.monotonic() + cap, limits, say
        )
        if cand is None:
            continue
        candidates.append(cand)
        probed.append((family, cand, fam_sets))
        _say_best(candidates, metric, say, family, cand)
        show(best=_best_text(candidates, metric))
    ranked = sorted(
        (p for p in probed if not p[1].stopped and p[1].dev is not None),
        key=lambda p: p[1].dev,
        reverse=metric not in LOWER_IS_BETTER,
    )
    left = deadline - time.monotonic()
    shares = list(TUNE_SHARES)
    tuned: list[tuple[str, list[str]]] = []

    def tune_family(family: str, fam_sets: list[str], budget: float) -> None:
        """Search ``family`` for ``budget`` more seconds (a second call continues its study)."""
        nonlocal candidates
        used = seconds_used(out / family)
        left_now = duration_text(deadline - time.monotonic())
        say(f"[{left_now} left] tuning {family} for {duration_text(budget)}")
        show(family=family, stage="tuning", trial="")
        opts = TuneOptions(
            time_s=used + budget, max_size_mb=max_size_mb, max_latency_ms=max_latency_ms, seed=seed
        )
        try:
            run_tune(None, base + fam_sets, out / family, opts, say=lambda line: say(f"  {family}: {line}"))
        except FenleiError as err:  # e.g. the share is too small for one trial of this family
            say(f"  {family}: {err}")
        candidates = [c for c in candidates if c.family != family or c.source == "probe"]
        candidates += trial_candidates(out / family, family, limits)
        _say_best(candidates, metric, say)
        show(best=_best_text(candidates, metric))

    for family, cand, fam_sets in ranked:
        if not shares:
            break
        budget = left * shares[0]
        if budget < MIN_TUNE_S or deadline - time.monotonic() < MIN_TUNE_S:
            break
        if cand.train_seconds * 2 > budget:  # the search would re-run the defaults and little else
            say(f"  {family}: not tuned, a run of it takes {duration_text(cand.train_seconds)} and "
                f"the share is {duration_text(budget)}; the share goes to the next family")  # fmt: skip
            continue
        shares.pop(0)
        tune_family(family, fam_sets, min(budget, deadline - time.monotonic()))
        tuned.append((family, fam_sets))
    rest = deadline - time.monotonic()
    if rest >= MIN_TUNE_S:  # time no other family could use: the best tuned one goes on (or, when
        # none was tuned, the best family one more run of which fits), so the budget is used
        pool = dict(tuned) or {f: sets_ for f, c, sets_ in ranked if c.train_seconds < rest}
        best_tuned = pick_winner([c for c in candidates if c.family in pool], metric)
        if best_tuned is not None:
            tune_family(best_tuned.family, pool[best_tuned.family], rest)
    show(family="", stage="writing the winner and auto.html", trial="")
    result = AutoResult(out, None, metric, profile.language, candidates, seconds=0.0)
    result.winner, result.why = pick_auto_winner(candidates, metric)
    if result.why:
        say(f"winner by the one-standard-error rule: {result.why}")
    if result.winner is not None:
        result.best_run = _copy_best(result.winner.run_dir, out / BEST)
        against_runners_up(result.winner, candidates, metric)
    from fenlei.tuning.auto_report import write_auto_report, write_auto_summary

    result.seconds = time.monotonic() - started
    out.mkdir(parents=True, exist_ok=True)  # even when no family could train here
    page = write_auto_report(result)
    write_auto_summary(result)
    if result.winner is None:
        say(f"no candidate finished within the limits in {duration_text(time_s)}; see {page}")
    else:
        w = result.winner
        say(
            f"best: {w.family} ({w.source}), dev {metric} {w.dev:.4f}"
            + (f", test {w.test:.4f}" if w.test is not None else "")
            + f" -> {result.best_run}; {page} ({duration_text(result.seconds)})"
        )
        for c in candidates:
            if c.versus is not None:
                v = c.versus
                say(f"  against {c.family} ({c.source}): ahead in {v['ahead']:.0%} of {RESAMPLES} resamples "
                    f"of the {v['n']:,} texts: {verdict(v)}")  # fmt: skip
    return result


def _probe(sets, run_dir: Path, family: str, deadline: float, limits, say) -> Candidate | None:
    """The family at its defaults under ``deadline``; None when it cannot train on this data."""
    from fenlei.training.pipeline import train

    clock = Deadline(deadline)
    try:
        cfg = load_config(None, sets)
        train(cfg, run_dir, callbacks=[clock], quiet=True)
    except FenleiError as err:
        say(f"  {family}: cannot train here ({err})")
        return None
    cand = read_candidate(run_dir, family, "probe", limits)
    cand.stopped = clock.hit
    if clock.hit:
        need = clock.full_run_seconds()
        say(
            f"  {family}: stopped by its probe time"
            + (f" (a full run needs about {duration_text(need)})" if need else "")
        )
    return cand


def _copy_best(run_dir: Path, dest: Path) -> Path:
    """The winner as a run directory of its own (scratch left out); its report written there."""
    from fenlei.evaluation.report import write_report

    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns(*SCRATCH))
    write_report(dest)
    return dest


def _say_best(
    candidates: list[Candidate], metric: str, say, family: str = "", cand: Candidate | None = None
) -> None:
    if cand is not None and cand.dev is not None:
        note = f" (rejected: {cand.rejected})" if cand.rejected else ""
        say(f"  {family}: dev {metric} {cand.dev:.4f} in {cand.train_seconds:.0f} s{note}")
    best = pick_winner(candidates, metric)
    if best is not None:
        say(f"  best so far: {best.family} ({best.source}) dev {metric} {best.dev:.4f}")


def auto(
    train: str,
    output: str | Path = "runs/auto",
    *,
    dev: str | None = None,
    test: str | None = None,
    time: str | float = "10m",
    metric: str | None = None,
    max_size: str | float | None = None,
    max_latency_ms: float | None = None,
    seed: int = 0,
    families: list[str] | None = None,
    quiet: bool = False,
) -> AutoResult:
    """``fenlei auto`` from Python; ``result.best_run`` is the winner's run directory."""
    from fenlei.tuning.limits import parse_duration, parse_size_mb

    return run_auto(
        str(train),
        dev,
        test,
        output,
        parse_duration(time) if isinstance(time, str) else float(time),
        metric=metric,
        max_size_mb=parse_size_mb(max_size) if isinstance(max_size, str) else max_size,
        max_latency_ms=max_latency_ms,
        seed=seed,
        families=families,
        say=(lambda _line: None) if quiet else print,
    )


def _epochs(sets: list[str]) -> int:
    """The epochs a run of these settings trains for."""
    return load_config(None, sets).train.epochs


def _best_text(candidates: list[Candidate], metric: str) -> str:
    best = pick_winner(candidates, metric)
    return "" if best is None else f"{best.family} {best.dev:.4f}"


def _train_key(train: str) -> str:
    """``data.train`` for a file, ``data.name`` for a catalog data set (``fenlei data list``)."""
    from fenlei.data.catalog import list_datasets

    if not Path(train).exists() and train in {spec.name for spec in list_datasets()}:
        return f"data.name={train}"
    return f"data.train={train}"
