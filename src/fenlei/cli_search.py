"""The search commands of ``fenlei``: ``tune`` (one recipe's space) and ``auto`` (across families).

Registered on the app in cli.py; the work is in fenlei.tuning, imported when a command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

SetOpt = typer.Option(None, "--set", "-s", help="Override a config key: section.key=value (repeatable).")


def tune(
    config: str = typer.Argument(None, help="YAML recipe to start from; omit to start from the defaults."),
    set_: list[str] = SetOpt,
    output: Path = typer.Option(..., "--output", "-o", help="Folder of the study, its trials and best.yaml."),
    time_: str = typer.Option("30m", "--time", help="Budget of this search: 90s, 30m, 1.5h (hard)."),
    trials: int = typer.Option(None, "--trials", help="Stop after this many finished trials."),
    metric: str = typer.Option(None, "--metric", help="Dev metric to optimise (default: train.metric)."),
    max_size: str = typer.Option(None, "--max-size", help="Reject models larger than this, e.g. 20MB."),
    max_latency_ms: float = typer.Option(None, "--max-latency-ms", help="Reject models slower per text."),
    storage: str = typer.Option(
        None,
        "--storage",
        help="Optuna storage URL shared by several workers (default sqlite:///OUT/study.db).",
    ),
    refit: bool = typer.Option(False, "--refit", help="Train the best config again on train + dev."),
    seed: int = typer.Option(0, "--seed", help="Seed of the TPE sampler."),
) -> None:
    """Search the recipe's space with Optuna (TPE, median pruning) within a time budget; resumable."""
    from fenlei.tuning.limits import parse_duration, parse_size_mb
    from fenlei.tuning.study import TuneOptions, run_tune

    opts = TuneOptions(
        time_s=parse_duration(time_),
        trials=trials,
        metric=metric,
        max_size_mb=parse_size_mb(max_size) if max_size else None,
        max_latency_ms=max_latency_ms,
        storage=storage,
        refit=refit,
        seed=seed,
    )
    result = run_tune(config, set_ or [], output, opts)
    if result.refit_run is not None:
        print(f"refit: {result.refit_run}")


def auto(
    train: str = typer.Argument(
        ..., help="Labelled training file (TSV/CSV/JSONL ...), or a catalog data set (fenlei data list)."
    ),
    dev: str = typer.Option(None, "--dev", help="Dev file (default: 10% of train, stratified)."),
    test: str = typer.Option(None, "--test", help="Test file: reported, never used to choose."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder of the search; the winner in OUT/best."),
    time_: str = typer.Option("10m", "--time", help="Budget of the whole search: 90s, 10m, 1h."),
    metric: str = typer.Option(None, "--metric", help="Dev metric that picks the winner."),
    max_size: str = typer.Option(None, "--max-size", help="Reject models larger than this, e.g. 20MB."),
    max_latency_ms: float = typer.Option(None, "--max-latency-ms", help="Reject models slower per text."),
    families: list[str] = typer.Option(
        None,
        "--family",
        help="Only these families (repeatable; default: tfidf, fasttext, textcnn, textrnn, transformer).",
    ),
    set_: list[str] = SetOpt,
    seed: int = typer.Option(0, "--seed", help="Seed of the samplers."),
) -> None:
    """Probe every candidate family, tune the best ones within the budget, keep the best on dev."""
    from fenlei.tuning.auto import run_auto
    from fenlei.tuning.limits import parse_duration, parse_size_mb

    run_auto(
        train,
        dev,
        test,
        output,
        parse_duration(time_),
        metric=metric,
        max_size_mb=parse_size_mb(max_size) if max_size else None,
        max_latency_ms=max_latency_ms,
        seed=seed,
        sets=set_ or [],
        families=families or None,
        live=sys.stdout.isatty(),
    )
