"""The ``fenlei audit`` command: which training labels look wrong (k-fold confident learning).

Registered on the app in cli.py; the work is in fenlei.auditing, imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fenlei.cli_search import SetOpt


def audit(
    config: str = typer.Argument(
        None, help="YAML config; omit to start from the defaults (give --set data.train=...)."
    ),
    folds: int = typer.Option(
        5, "--folds", "-k", help="Train this many folds; every class needs as many texts."
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Folder of the fold runs, suspects.tsv, conflicts.tsv and audit.html."
    ),
    set_: list[str] = SetOpt,
    apply: bool = typer.Option(
        False, "--apply", help="Also write DIR/train.cleaned.tsv without the flagged rows."
    ),
    rank_by: str = typer.Option(
        "self_confidence", "--rank-by", help="Order of the suspects: self_confidence or normalized_margin."
    ),
    flag_by: str = typer.Option(
        "confident_joint",
        "--flag-by",
        help="Which texts are flagged: confident_joint (confident of another class) or noise_rate "
        "(as many as the estimated joint says are wrong, by margin).",
    ),
    near: float = typer.Option(
        0.9,
        "--near",
        help="Cosine (character 3-gram TF-IDF) from which texts are near duplicates; 1 = exact only.",
    ),
    seed: int = typer.Option(None, "--seed", help="Seed of the fold split (default: data.split_seed)."),
) -> None:
    """Train k folds, rank the training texts whose label the held-out models find least likely."""
    from fenlei.auditing.run import AuditOptions, run_audit

    opts = AuditOptions(folds=folds, rank_by=rank_by, flag_by=flag_by, near=near, apply=apply, seed=seed)
    run_audit(config, set_ or [], output, opts)
