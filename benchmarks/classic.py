"""Accuracy, train time, inference speed and peak memory of the classic models on ../shared/data.

Each (recipe, seed) trains in its own process with ``fenlei train`` so peak memory is per run.
Prints a markdown table (mean ± std over seeds) and writes benchmarks/results/classic.json.

    python benchmarks/classic.py                       # the default grid, 3 seeds
    python benchmarks/classic.py --recipes sst2-fasttext thucnews-textcnn --seeds 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = [
    "sst2-fasttext",
    "sst2-textcnn",
    "sst2-textrnn",
    "mr-textcnn",
    "thucnews-fasttext",
    "thucnews-textcnn",
    "thucnews-textrnn",
]


def run_one(recipe: str, seed: int, out: Path, extra: list[str]) -> dict:
    """Train one recipe (a name in configs/, or a path to a YAML file) with one seed."""
    config = Path(recipe) if recipe.endswith(".yaml") else ROOT / "configs" / f"{recipe}.yaml"
    recipe = config.stem
    run_dir = out / f"{recipe}-s{seed}"
    cmd = [
        sys.executable,
        "-m",
        "fenlei",
        "train",
        str(config),
        "-o",
        str(run_dir),
        "--overwrite",
        "--quiet",
        "--set",
        f"train.seed={seed}",
        "--set",
        "train.tensorboard=false",
    ]
    for item in extra:
        cmd += ["--set", item]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"recipe": recipe, "seed": seed, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    m = json.loads((run_dir / "metrics.json").read_text())
    return {
        "recipe": recipe,
        "seed": seed,
        "accuracy": m["test"]["accuracy"],
        "macro_f1": m["test"]["macro_f1"],
        "mcc": m["test"]["mcc"],
        "train_seconds": m["train"]["seconds"],
        "wall_seconds": time.perf_counter() - t0,
        "texts_per_second": m["test"]["texts_per_second"],
        "peak_rss_mb": m["train"]["peak_rss_mb"],
        "params": m["train"]["params"],
        "epochs": m["train"]["epochs"],
    }


def fenlei_train(sets: list[str], run_dir: Path) -> dict:
    """``fenlei train -o RUN_DIR --overwrite --quiet --set ...`` in its own process: the run's
    metrics.json as ``metrics``, its model name and the wall seconds; or ``error``, the last line."""
    cmd = [sys.executable, "-m", "fenlei", "train", "-o", str(run_dir), "--overwrite", "--quiet"]
    cmd += [x for item in sets for x in ("--set", item)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    import yaml

    return {
        "metrics": json.loads((run_dir / "metrics.json").read_text()),
        "model": yaml.safe_load((run_dir / "config.yaml").read_text())["model"]["name"],
        "wall_seconds": time.perf_counter() - t0,
    }


def saved_rows(path: Path, key: str, order: list[str]) -> tuple[dict, list[dict]]:
    """A results file's meta and its rows, sorted by ``order`` of each row's ``key`` (others last)."""
    results = json.loads(path.read_text())
    rank = {name: i for i, name in enumerate(order)}
    return results["meta"], sorted(results["rows"], key=lambda r: rank.get(r[key], len(rank)))


def run_meta() -> dict:
    """Date, commit and machine, for the header of a results file."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return {
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit.stdout.strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, python {platform.python_version()}",
    }


def read_rows(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs of a ``label<TAB>text`` TSV with a header, labels as written."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        li, ti = header.index("label"), header.index("text")
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            rows.append((parts[ti], parts[li]))
    return rows


def merge_results(path: Path, rows: list[dict], meta: dict, keys: tuple[str, ...]) -> list[dict]:
    """Write ``rows`` to the results JSON at ``path``, keeping earlier rows whose ``keys`` this run
    did not produce (a partial rerun replaces only what it ran; kept rows keep their commit)."""
    kept = []
    if path.is_file():
        prev = json.loads(path.read_text())
        ran = {tuple(r[k] for k in keys) for r in rows}
        kept = [r for r in prev["rows"] if tuple(r[k] for k in keys) not in ran]
        for r in kept:
            r.setdefault("commit", prev["meta"].get("commit", "?"))
    for r in rows:
        r["commit"] = meta["commit"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "rows": kept + rows}, indent=2) + "\n")
    return kept + rows


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def ab_table(rows: list[dict], modes: tuple[str, str], names: tuple[str, str]) -> str:
    """Markdown: per recipe, the mean ± std accuracy of two modes (rows' ``mode``), their
    difference in points (second minus first) and mean train seconds."""
    a, b = names
    lines = [
        f"| recipe | {a} accuracy | {b} accuracy | difference | {a} train s | {b} train s |",
        "|---|---|---|---|---|---|",
    ]
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        cells, means, secs = [], {}, {}
        for mode in modes:
            ok = [r for r in rows if r["recipe"] == recipe and r["mode"] == mode and "error" not in r]
            if not ok:
                bad = [r["error"] for r in rows if r["recipe"] == recipe and r["mode"] == mode]
                cells.append(f"failed: {bad[0]}" if bad else "not run")
                continue
            acc, sd = mean_std([r["accuracy"] for r in ok])
            means[mode] = acc
            secs[mode] = sum(r["train_seconds"] for r in ok) / len(ok)
            cells.append(f"{acc:.4f} ± {sd:.4f} (n={len(ok)})")
        diff = f"{100 * (means[modes[1]] - means[modes[0]]):+.2f} points" if len(means) == 2 else ""
        s = [f"{secs[m]:.0f}" if m in secs else "" for m in modes]
        lines.append(f"| {recipe} | {cells[0]} | {cells[-1]} | {diff} | {s[0]} | {s[1]} |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    lines = [
        "| recipe | seeds | test accuracy | macro-F1 | train s | infer texts/s | peak RSS MB | params |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        ok = [r for r in rows if r["recipe"] == recipe and "error" not in r]
        if not ok:
            err = next(r["error"] for r in rows if r["recipe"] == recipe)
            lines.append(f"| {recipe} | failed: {err} | | | | | | |")
            continue
        acc, acc_sd = mean_std([r["accuracy"] for r in ok])
        f1, f1_sd = mean_std([r["macro_f1"] for r in ok])
        lines.append(
            f"| {recipe} | {len(ok)} | {acc:.4f} ± {acc_sd:.4f} | {f1:.4f} ± {f1_sd:.4f} | "
            f"{statistics.fmean(r['train_seconds'] for r in ok):.1f} | "
            f"{statistics.fmean(r['texts_per_second'] for r in ok):,.0f} | "
            f"{max(r['peak_rss_mb'] for r in ok):,.0f} | {ok[0]['params']:,} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=DEFAULT)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra config override")
    args = parser.parse_args()
    rows = []
    for recipe in args.recipes:
        for seed in range(1, args.seeds + 1):
            row = run_one(recipe, seed, args.out, args.extra)
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    meta = run_meta()
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / "classic.json"
    # A partial rerun (--recipes ...) replaces only its recipes' rows; the others keep theirs.
    kept = []
    if path.is_file():
        ran = set(args.recipes)
        old = json.loads(path.read_text())
        kept = [r for r in old["rows"] if r["recipe"] not in ran]
        for r in kept:
            r.setdefault("commit", old["meta"].get("commit", "?"))
    for r in rows:
        r["commit"] = meta["commit"]
    path.write_text(json.dumps({"meta": meta, "rows": kept + rows}, indent=2) + "\n")
    print(f"machine: {meta['machine']}; date {meta['date']}; commit {meta['commit']}\n")
    print(table(kept + rows))


if __name__ == "__main__":
    main()
