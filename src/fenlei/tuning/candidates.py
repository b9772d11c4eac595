"""The runs of a ``fenlei auto`` search as candidates: their figures read from each run
directory, the limits that reject them, the winner and its paired bootstrap against the rest."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from fenlei.evaluation.metrics import LOWER_IS_BETTER
from fenlei.rundir import RunDir
from fenlei.tuning.limits import latency_ms


@dataclass
class Candidate:
    """One finished run of the search: a probe or a trial, with its figures."""

    family: str
    source: str  # "probe" or "trial N"
    run_dir: Path
    dev: float | None
    test: float | None
    train_seconds: float
    texts_per_second: float | None
    size_mb: float
    latency_ms: float | None = None
    rejected: str = ""
    stopped: bool = False  # the budget stopped its training early
    dev_texts: int = 0  # how many texts the dev score is over (its standard error)
    versus: dict | None = None  # the winner against this run: a paired bootstrap on the same texts


def read_candidate(run_dir: Path, family: str, source: str, limits) -> Candidate:
    max_size_mb, max_latency, texts = limits
    rd = RunDir(run_dir)
    m = rd.read_metrics()
    metric = m["metric"]
    size = rd.model_bytes() / 1e6
    cand = Candidate(
        family,
        source,
        run_dir,
        (m.get("dev") or {}).get(metric),
        (m.get("test") or {}).get(metric),
        m["train"]["seconds"],
        (m.get("test") or {}).get("texts_per_second"),
        size,
        dev_texts=int((m.get("data") or {}).get("dev") or 0),
    )
    reasons = []
    if max_size_mb and size > max_size_mb:
        reasons.append(f"{size:.1f} MB > {max_size_mb:g} MB")
    if max_latency:
        cand.latency_ms = latency_ms(run_dir, texts)
        if cand.latency_ms > max_latency:
            reasons.append(f"{cand.latency_ms:.2f} ms > {max_latency:g} ms")
    cand.rejected = "; ".join(reasons)
    return cand


def trial_candidates(study_dir: Path, family: str, limits) -> list[Candidate]:
    """Every finished trial run of one family's search (pruned ones too: their dev score is real)."""
    out = []
    for run in sorted((study_dir / "trials").glob("*")):
        if RunDir(run).finished:
            out.append(read_candidate(run, family, f"trial {int(run.name)}", limits))
    return out


def pick_winner(candidates: list[Candidate], metric: str) -> Candidate | None:
    ok = [c for c in candidates if c.dev is not None and not c.rejected]
    if not ok:
        return None
    sign = -1 if metric in LOWER_IS_BETTER else 1
    # ties go to the cheaper model: the earlier family, then the faster run
    return max(ok, key=lambda c: (sign * c.dev, -c.train_seconds))


def dev_error(c: Candidate) -> float | None:
    """The standard error of a dev score in [0, 1] over ``dev_texts`` texts, as a proportion's
    (sqrt(p (1 - p) / n)); None where that says nothing (a loss, an unknown count)."""
    if c.dev is None or c.dev_texts <= 0 or not 0.0 <= c.dev <= 1.0:
        return None
    return math.sqrt(c.dev * (1.0 - c.dev) / c.dev_texts)


def pick_auto_winner(candidates: list[Candidate], metric: str) -> tuple[Candidate | None, str]:
    """The winner of an auto search and why: the best dev run, unless another family's best is
    within one standard error of it on dev and predicts faster; then the fastest such family
    (the one-standard-error rule, Breiman et al. 1984): a 0.6-point dev lead of a BiLSTM over
    TF-IDF on 1,515 rt-polarity texts came out 2 points behind it on test."""
    best = pick_winner(candidates, metric)
    err = dev_error(best) if best is not None and metric not in LOWER_IS_BETTER else None
    if err is None:
        return best, ""
    heads = [pick_winner([c for c in candidates if c.family == f], metric) for f in _families(candidates)]
    close = [c for c in heads if c is not None and c.dev >= best.dev - err]
    fastest = max(close, key=lambda c: c.texts_per_second or 0.0)
    if fastest is best or not (fastest.texts_per_second or 0.0) > (best.texts_per_second or 0.0):
        return best, ""
    why = (
        f"{best.family}'s dev {metric} {best.dev:.4f} is within one standard error ({err:.4f}, "
        f"{best.dev_texts:,} texts) of {fastest.family}'s {fastest.dev:.4f}, and {fastest.family} "
        + (f"predicts {fastest.texts_per_second / best.texts_per_second:,.0f}x faster"
           if best.texts_per_second else "predicts faster")
    )  # fmt: skip
    return fastest, why


def _families(candidates: list[Candidate]) -> list[str]:
    return list(dict.fromkeys(c.family for c in candidates))


def against_runners_up(winner: Candidate, candidates: list[Candidate], metric: str) -> None:
    """A paired bootstrap of the winner against the best run of every other family (test
    predictions, else dev), so that a 0.2-point win reads as the tie it may be."""
    from fenlei.evaluation.bootstrap import paired_bootstrap, run_decisions

    mine = run_decisions(winner.run_dir)
    if mine is None:
        return
    for family in [f for f in _families(candidates) if f != winner.family]:
        runner = pick_winner([c for c in candidates if c.family == family], metric)
        theirs = run_decisions(runner.run_dir) if runner is not None else None
        if theirs is not None and theirs.texts == mine.texts:
            runner.versus = paired_bootstrap(mine, theirs, metric)
