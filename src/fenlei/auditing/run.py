"""``fenlei audit CONFIG --folds 5 -o DIR``: which training labels look wrong.

The config's train file (data.train, or the catalog set's train split; its dev and test are not
used) is cut into k stratified folds; each fold is an ordinary ``train`` run (DIR/folds/1 ...)
on the other folds, so every text gets probabilities from a model that never saw it. Confident
learning on those (ranking.py) flags the texts whose given label the models find unlikely and
another label likely; duplicates.py finds identical and near-identical texts with different
labels. DIR gets suspects.tsv, conflicts.tsv, audit.html and audit.json; ``apply`` also writes
train.cleaned.tsv, the train rows without the flagged ones, and the command that trains on it.
Run the same command again and the finished folds are reused.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fenlei.auditing import layout
from fenlei.auditing.duplicates import Conflict, find_conflicts
from fenlei.auditing.folds import FoldRun, assign_folds, check_folds, run_folds
from fenlei.auditing.ranking import FLAGS, SCORES, Ranking, rank
from fenlei.config import Config, load_config
from fenlei.data.examples import Examples
from fenlei.errors import ConfigError, DataError, FenleiError
from fenlei.tuning.study import writable_dir  # the same check as fenlei tune's -o

# What every fold run sets: a fold's own report and TensorBoard logs are not what an audit reads.
FOLD_SETS = ["train.report=false", "train.tensorboard=false"]


@dataclass
class AuditOptions:
    """The choices of one audit."""

    folds: int = 5  # k of the k-fold split (every class needs at least k texts)
    rank_by: str = "self_confidence"  # a score of ranking.SCORES: self_confidence | normalized_margin
    flag_by: str = "confident_joint"  # a rule of ranking.FLAGS: confident_joint | noise_rate
    near: float | None = 0.9  # cosine of character 3-gram TF-IDF for near duplicates; None or 1 = exact only
    apply: bool = False  # also write train.cleaned.tsv without the flagged rows
    seed: int | None = None  # seed of the fold split; None = the config's data.split_seed

    def __post_init__(self) -> None:
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            raise ConfigError(
                f"--folds {self.folds}: an audit needs an integer of at least 2 folds (5 is usual)"
            )
        if self.rank_by not in SCORES:
            raise ConfigError(f"--rank-by {self.rank_by}: choose {' or '.join(SCORES.names())}")
        if self.flag_by not in FLAGS:
            raise ConfigError(f"--flag-by {self.flag_by}: choose {' or '.join(FLAGS.names())}")
        if self.near is not None and not 0.0 < self.near <= 1.0:
            raise ConfigError(f"--near {self.near}: give a cosine in (0, 1], e.g. 0.9")


@dataclass
class AuditResult:
    """What an audit found; ``files`` maps the kinds (suspects, conflicts, report, summary,
    cleaned) to the files written."""

    out_dir: Path
    texts: list[str]
    labels: list[str]  # the given labels
    lines: list[int]  # the train file's line of each text
    names: list[str]  # the classes, in probability column order
    given: np.ndarray  # [N] given label ids
    probs: np.ndarray  # [N, C] out-of-fold probabilities
    ranking: Ranking
    conflicts: list[Conflict]
    folds: list[FoldRun]
    files: dict[str, Path] = field(default_factory=dict)
    removed: int | None = None  # rows left out of train.cleaned.tsv (apply)
    command: str | None = None  # the command that trains on train.cleaned.tsv (apply)
    source: str = ""  # the train file

    @property
    def suspects(self) -> list[int]:
        """Row indices of the flagged texts, most suspect first."""
        return [int(i) for i in self.ranking.suspects]

    @property
    def ranked(self) -> list[int]:
        """Every row index, most suspect first: the flagged texts, then the rest, each by score."""
        return [int(i) for i in self.ranking.order]

    @property
    def noise_rate(self) -> float:
        """The estimated share of wrong labels in the train file."""
        return self.ranking.noise_rate


def run_audit(
    config: str | Path | None, sets: list[str], out_dir: str | Path, opts: AuditOptions, say=print
) -> AuditResult:
    """Audit the train file of ``config`` (plus ``sets``) into ``out_dir``."""
    from fenlei.auditing import outputs
    from fenlei.auditing.report import write_audit_report
    from fenlei.resolve import resolve

    out = Path(out_dir)
    sets = list(sets)

    def make_config() -> Config:
        return load_config(config, [*sets, *FOLD_SETS])

    base = make_config()
    resolved = copy.deepcopy(base)
    task = resolve(resolved, in_memory=True).task  # a bad key or model is said before any work
    if task.unauditable:
        raise ConfigError(task.unauditable)
    examples, lines = read_train(resolved.data, task)
    check_folds(examples.labels, opts.folds, examples.source)
    writable_dir(out)
    label_map = task.fit_labels(examples.labels)
    names = label_map.names
    given = np.asarray(task.encode(label_map, examples.labels)[0], dtype=np.int64)
    seed = resolved.data.split_seed if opts.seed is None else opts.seed
    fingerprint = _fingerprint(base, examples, opts.folds, seed)
    _check_same_audit(out, fingerprint)
    started = {"fingerprint": fingerprint, "finished": False}
    (out / layout.SUMMARY).write_text(json.dumps(started) + "\n", encoding="utf-8")

    say(f"audit: {len(examples):,} texts of {examples.source}, {len(names)} classes, "
        f"{opts.folds} folds of {resolved.model.name} -> {out}")  # fmt: skip
    fold_of = assign_folds(examples.labels, opts.folds, seed)
    probs, folds = run_folds(make_config, task, examples, names, fold_of, out / layout.FOLDS, say)
    ranking = rank(probs, given, opts.rank_by, opts.flag_by)
    conflicts = find_conflicts(examples.texts, examples.labels, opts.near)
    result = AuditResult(
        out,
        examples.texts,
        examples.labels,
        lines,
        names,
        given,
        probs,
        ranking,
        conflicts,
        folds,
        source=examples.source,
    )
    texts, labels = examples.texts, examples.labels
    result.files["suspects"] = outputs.write_suspects(
        out / layout.SUSPECTS, ranking, probs, texts, given, names, lines
    )
    result.files["conflicts"] = outputs.write_conflicts(
        out / layout.CONFLICTS, conflicts, texts, labels, lines
    )
    if opts.apply:
        cleaned = out / layout.CLEANED
        result.removed = outputs.write_cleaned(cleaned, resolved.data, texts, labels, ranking.flagged)
        result.files["cleaned"] = cleaned
        result.command = outputs.train_command(config, sets, cleaned, resolved.data)
    result.files["summary"] = out / layout.SUMMARY
    result.files["report"] = out / layout.REPORT
    summary = summary_data(result, resolved, opts, seed)
    write_audit_report(result.files["report"], result, summary)
    summary["fingerprint"] = fingerprint
    text = json.dumps(summary, indent=2, ensure_ascii=False)
    result.files["summary"].write_text(text + "\n", encoding="utf-8")
    _say_result(result, say)
    return result


def read_train(data_cfg, task) -> tuple[Examples, list[int]]:
    """The train file's examples through the readers, with the line each came from."""
    from fenlei.data.loading import data_paths
    from fenlei.data.readers import ReadOptions, open_rows

    path = data_paths(data_cfg)["train"]
    opts = ReadOptions(data_cfg.text_column, data_cfg.label_column, data_cfg.encoding, "train", task.cells)
    rows = open_rows(path, opts, format=data_cfg.format)
    lines, texts, labels = [], [], []
    for line, text, label in rows:
        lines.append(line)
        texts.append(text)
        labels.append(label)
    examples = Examples(texts, labels, rows.source, rows.skipped)
    task.check_class_count(examples)
    if not len(examples):
        raise DataError(f"{examples.source}: no usable training examples (all rows empty or skipped)")
    task.check_train(examples)
    return examples, lines


def summary_data(result: AuditResult, cfg: Config, opts: AuditOptions, seed: int) -> dict:
    """audit.json: the figures the report shows, as plain data."""
    r = result.ranking
    counts = np.bincount(result.given, minlength=len(result.names))
    flagged = np.bincount(result.given[r.flagged], minlength=len(result.names))
    noise = r.class_noise()
    return {
        "finished": True,
        "train": result.source,
        "model": cfg.model.name,
        "folds": opts.folds,
        "seed": seed,
        "rank_by": opts.rank_by,
        "flag_by": opts.flag_by,
        "texts": len(result.texts),
        "flagged": int(r.flagged.sum()),
        "noise_rate": r.noise_rate,
        "classes": [
            {
                "label": name,
                "texts": int(counts[j]),
                "threshold": float(r.thresholds[j]),
                "flagged": int(flagged[j]),
                "noise_rate": float(noise[j]),
            }
            for j, name in enumerate(result.names)
        ],
        "confident_joint": r.joint.tolist(),
        "fold_runs": [
            {
                "fold": f.fold,
                "run_dir": str(f.run_dir),
                "train": f.train,
                "held_out": f.held_out,
                "accuracy": f.metrics.get("accuracy"),
                "seconds": f.seconds,
                "reused": f.reused,
            }
            for f in result.folds
        ],  # fmt: skip
        "held_out_accuracy": float(np.mean(result.ranking.predicted == result.given)),
        "conflicts": {
            "exact": sum(c.kind == "exact" for c in result.conflicts),
            "near": sum(c.kind == "near" for c in result.conflicts),
            "texts": sum(len(c.rows) for c in result.conflicts),
        },
        "removed": result.removed,
        "train_command": result.command,
        "files": {kind: str(path) for kind, path in result.files.items()},
    }


def _say_result(result: AuditResult, say) -> None:
    n, flagged = len(result.texts), len(result.suspects)
    exact = sum(c.kind == "exact" for c in result.conflicts)
    near = len(result.conflicts) - exact
    say(
        f"flagged {flagged:,} of {n:,} texts ({flagged / n:.1%}); estimated share of wrong labels "
        f"{result.noise_rate:.1%}; {exact:,} exact and {near:,} near duplicate groups with different labels"
    )
    say(f"wrote {', '.join(str(result.files[k]) for k in ('suspects', 'conflicts', 'report'))}")
    if result.command is not None:
        say(f"removed {result.removed:,} of {n:,} rows (the flagged ones): {result.files['cleaned']}")
        say(f"train on it with:\n  {result.command}")


def _fingerprint(cfg: Config, examples: Examples, folds: int, seed: int) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([cfg.to_dict(), folds, seed], sort_keys=True, default=str).encode())
    for text, label in zip(examples.texts, examples.labels, strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()[:16]


def _check_same_audit(out: Path, fingerprint: str) -> None:
    """Refuse to mix fold runs of another config, data, --folds or seed into ``out``."""
    summary = out / layout.SUMMARY
    folds = out / layout.FOLDS
    seen = None
    if summary.is_file():
        try:
            seen = json.loads(summary.read_text(encoding="utf-8")).get("fingerprint")
        except (ValueError, AttributeError):
            seen = None
    if seen == fingerprint:
        return
    if seen is not None or (folds.is_dir() and any(folds.iterdir())):
        raise FenleiError(
            f"-o {out}: holds an audit of another config, train file, --folds or seed; choose another "
            f"-o, or delete {out} to start over"
        )


def audit(
    config: str | Path | None = None,
    folds: int = 5,
    output: str | Path = "runs/audit",
    *,
    apply: bool = False,
    sets: list[str] | tuple[str, ...] = (),
    rank_by: str = "self_confidence",
    flag_by: str = "confident_joint",
    near: float | None = 0.9,
    seed: int | None = None,
    quiet: bool = False,
) -> AuditResult:
    """``fenlei audit`` from Python: ``result.suspects`` are row indices of the flagged texts,
    most suspect first; DIR holds suspects.tsv, conflicts.tsv, audit.html (and, with ``apply``,
    train.cleaned.tsv)."""
    opts = AuditOptions(folds=folds, rank_by=rank_by, flag_by=flag_by, near=near, apply=apply, seed=seed)
    return run_audit(config, list(sets), output, opts, say=(lambda _line: None) if quiet else print)
