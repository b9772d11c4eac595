"""Train several configs on the same data (over one or more seeds) and tabulate them.

Each run trains in its own process, so peak memory is measured per model and one failing
run is reported with its error line while the others still finish.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fenlei import state_io
from fenlei.config import load_config
from fenlei.errors import ERROR_FILE_ENV
from fenlei.resolve import resolve
from fenlei.rundir import RunDir


@dataclass
class CompareRow:
    """One config's outcome in a comparison."""

    name: str
    config: str
    run_dir: str
    status: str  # ok | failed
    error: str = ""
    metrics: dict | None = None
    seed: int | None = None  # None: the config's own train.seed


def run_name(config_path: str, taken: set[str]) -> str:
    """A unique run name from a config's file name."""
    base = Path(config_path).stem
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def compare(
    configs: list[str], out_dir: str | Path, overrides: list[str], *, seeds: int = 1, verbose: bool = True
) -> list[CompareRow]:
    """Train every config (with the shared overrides) into ``out_dir/<name>`` and collect results.

    ``seeds`` > 1 trains each config with train.seed = 1..seeds into ``out_dir/<name>/seed-<k>``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Fail fast on a bad config before spending time on the others; keep each one's headline metric.
    metric_of = {name: _headline_metric(cfg, overrides) for name, cfg in _named(configs)}
    seed_list: list[int | None] = [None] if seeds <= 1 else list(range(1, seeds + 1))
    jobs = [(name, cfg, seed) for name, cfg in _named(configs) for seed in seed_list]
    rows: list[CompareRow] = []
    for k, (name, cfg, seed) in enumerate(jobs, 1):
        run_dir = out_dir / name if seed is None else out_dir / name / f"seed-{seed}"
        cmd = [sys.executable, "-m", "fenlei", "train", cfg, "-o", str(run_dir), "--overwrite"]
        for item in [*overrides, *([f"train.seed={seed}"] if seed is not None else [])]:
            cmd += ["--set", item]
        if verbose:
            label = name if seed is None else f"{name} (seed {seed})"
            print(f"[{k}/{len(jobs)}] {label}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        error_file = out_dir / f".error-{k}.txt"
        error_file.unlink(missing_ok=True)
        proc = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=None if verbose else subprocess.PIPE,
            text=True,
            env={**os.environ, ERROR_FILE_ENV: str(error_file)},
        )
        if proc.returncode == 0 and RunDir(run_dir).finished:
            metrics = RunDir(run_dir).read_metrics()
            rows.append(CompareRow(name, cfg, str(run_dir), "ok", metrics=metrics, seed=seed))
        else:
            lines = (proc.stdout or "").strip().splitlines() + (proc.stderr or "").strip().splitlines()
            if error_file.is_file():
                lines.append(error_file.read_text(encoding="utf-8").strip())
            error = lines[-1] if lines else f"exit code {proc.returncode}"
            rows.append(CompareRow(name, cfg, str(run_dir), "failed", error=error, seed=seed))
        error_file.unlink(missing_ok=True)
        if verbose and proc.stdout:
            print(proc.stdout.strip(), file=sys.stderr)
            print(f"    ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    models = summarize(rows, metric_of)
    state_io.write_json(
        out_dir / "compare.json",
        {"seeds": seeds, "overrides": overrides, "models": models, "runs": [row.__dict__ for row in rows]},
    )
    return rows


def _named(configs: list[str]) -> list[tuple[str, str]]:
    taken: set[str] = set()
    return [(run_name(cfg, taken), cfg) for cfg in configs]


def _headline_metric(config: str, overrides: list[str]) -> str:
    """The metric a model is ranked by: its train.metric, or accuracy when that is the loss."""
    metric = resolve(load_config(config, overrides), in_memory=True).cfg.train.metric
    return "accuracy" if metric == "loss" else metric


def summarize(rows: list[CompareRow], metric_of: dict[str, str]) -> list[dict]:
    """Per config: mean and std over its seeds of the headline numbers, plus failures."""
    out = []
    for name in dict.fromkeys(row.name for row in rows):
        mine = [row for row in rows if row.name == name]
        ok = [summary(row) for row in mine if row.status == "ok"]
        entry: dict = {
            "name": name,
            "config": mine[0].config,
            "metric": metric_of.get(name, "accuracy"),
            "runs": len(mine),
            "ok": len(ok),
            "errors": [row.error for row in mine if row.status != "ok"],
            "run_dirs": [row.run_dir for row in mine if row.status == "ok"],
        }
        for key in ("accuracy", "macro_f1", "mcc", "roc_auc", "micro_f1"):
            entry[key], entry[f"{key}_std"] = _mean_std([s.get(key) for s in ok])
        for key in ("train_seconds", "texts_per_second"):
            entry[key], _ = _mean_std([s.get(key) for s in ok])
        entry["params"] = ok[0]["params"] if ok else None
        mem = [s["peak_rss_mb"] for s in ok if s.get("peak_rss_mb") is not None]
        entry["peak_rss_mb"] = max(mem) if mem else None
        entry["split"] = ok[0]["split"] if ok else None
        out.append(entry)
    _against_the_best(out)
    return out


def _against_the_best(models: list[dict]) -> None:
    """``vs_best`` per model: a paired bootstrap of the best model's first run against its first
    run on the same texts, so that a small lead on one seed reads as the tie it may be."""
    from fenlei.evaluation.bootstrap import paired_bootstrap, run_decisions, verdict
    from fenlei.evaluation.metrics import LOWER_IS_BETTER

    ok = [m for m in models if m["ok"] and m.get(m["metric"]) is not None]
    if len(ok) < 2 or len({m["metric"] for m in ok}) > 1:
        return
    metric = ok[0]["metric"]
    pick = min if metric in LOWER_IS_BETTER else max
    best = pick(ok, key=lambda m: m[metric])
    mine = run_decisions(best["run_dirs"][0])
    best["vs_best"] = {"verdict": "best"}
    for m in ok:
        if m is best or mine is None:
            continue
        theirs = run_decisions(m["run_dirs"][0])
        if theirs is not None and theirs.texts == mine.texts:
            result = paired_bootstrap(mine, theirs, metric)
            m["vs_best"] = {**result, "verdict": verdict(result)}


def _mean_std(values: list) -> tuple[float | None, float | None]:
    """Mean and sample std (ddof 1; 0 for one value) of the values that are not None."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return None, None
    mean = sum(xs) / len(xs)
    var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0
    return mean, math.sqrt(var)


def summary(row: CompareRow) -> dict:
    """The headline numbers of one row: test (or dev) metrics, train seconds, speed, size, memory."""
    if row.metrics is None:
        return {}
    split = "test" if "test" in row.metrics else "dev"
    m, t = row.metrics[split], row.metrics.get("train", {})
    return {
        "split": split,
        "accuracy": m.get("accuracy"),
        "macro_f1": m.get("macro_f1"),
        "mcc": m.get("mcc"),
        "micro_f1": m.get("micro_f1"),
        "roc_auc": m.get("roc_auc"),
        "train_seconds": t.get("seconds"),
        "texts_per_second": m.get("texts_per_second"),
        "params": t.get("params"),
        "peak_rss_mb": t.get("peak_rss_mb"),
    }
