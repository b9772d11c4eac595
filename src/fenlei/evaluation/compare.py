"""Train several configs on the same data and tabulate them.

Each config trains in its own process, so peak memory is measured per model and one
failing run is reported with its error line while the others still finish.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fenlei.config import load_config
from fenlei.training import state_io


@dataclass
class CompareRow:
    """One config's outcome in a comparison."""

    name: str
    config: str
    run_dir: str
    status: str  # ok | failed
    error: str = ""
    metrics: dict | None = None


def run_name(config_path: str, taken: set[str]) -> str:
    """A unique run name from a config's file name."""
    base = Path(config_path).stem
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def compare(
    configs: list[str], out_dir: str | Path, overrides: list[str], *, verbose: bool = True
) -> list[CompareRow]:
    """Train every config (with the shared overrides) into ``out_dir/<name>`` and collect results."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for cfg in configs:
        load_config(cfg, overrides)  # fail fast on a bad config before spending time on others
    rows: list[CompareRow] = []
    taken: set[str] = set()
    for cfg in configs:
        name = run_name(cfg, taken)
        run_dir = out_dir / name
        cmd = [sys.executable, "-m", "fenlei", "train", cfg, "-o", str(run_dir), "--overwrite"]
        for item in overrides:
            cmd += ["--set", item]
        if verbose:
            print(f"[{len(rows) + 1}/{len(configs)}] {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=None if verbose else subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        metrics_path = run_dir / "metrics.json"
        if proc.returncode == 0 and metrics_path.is_file():
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
            rows.append(CompareRow(name, cfg, str(run_dir), "ok", metrics=metrics))
        else:
            lines = (proc.stdout or "").strip().splitlines() + (proc.stderr or "").strip().splitlines()
            error = lines[-1] if lines else f"exit code {proc.returncode}"
            rows.append(CompareRow(name, cfg, str(run_dir), "failed", error=error))
        if verbose and proc.stdout:
            print(proc.stdout.strip(), file=sys.stderr)
            print(f"    ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    state_io.write_json(out_dir / "compare.json", [row.__dict__ for row in rows])
    return rows


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
        "roc_auc": m.get("roc_auc"),
        "train_seconds": t.get("seconds"),
        "texts_per_second": m.get("texts_per_second"),
        "params": t.get("params"),
        "peak_rss_mb": t.get("peak_rss_mb"),
    }
