"""R-Drop (+ label smoothing 0.1) against plain cross-entropy, recipe by recipe, same seeds.

Each recipe runs as it is (its own objective, plain CE in the shipped recipes) and with
``objective.name=rdrop objective.label_smoothing=0.1``; the table shows both means ± std and
the difference, whichever way it goes. Writes benchmarks/results/rdrop.json.

    python benchmarks/rdrop.py                                   # all four recipes, 3 seeds
    python benchmarks/rdrop.py --recipes sst2-textcnn --seeds 1 --alpha 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, mean_std, merge_results, run_one  # noqa: E402

RECIPES = ["sst2-textcnn", "mr-textcnn", "sst2-minilm", "mr-minilm"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=RECIPES)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=5.0, help="objective.rdrop_alpha")
    parser.add_argument("--skip-ce", action="store_true", help="only the R-Drop runs")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-rdrop")
    args = parser.parse_args()
    rdrop = ["objective.name=rdrop", "objective.label_smoothing=0.1", f"objective.rdrop_alpha={args.alpha}"]
    modes = ([] if args.skip_ce else [("ce", [])]) + [("rdrop", rdrop)]
    rows = []
    for recipe in args.recipes:
        for mode, extra in modes:
            for seed in range(1, args.seeds + 1):
                row = run_one(recipe, seed, args.out / mode, extra)
                row["mode"] = mode
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    meta = {"date": time.strftime("%Y-%m-%d"), "commit": commit.stdout.strip(), "alpha": args.alpha}
    rows = merge_results(ROOT / "benchmarks" / "results" / "rdrop.json", rows, meta, ("recipe", "mode"))
    print(f"date {meta['date']}; commit {meta['commit']}; alpha {args.alpha}\n")
    print(table(rows))


def table(rows: list[dict]) -> str:
    lines = [
        "| recipe | CE accuracy | R-Drop + LS 0.1 accuracy | difference | CE train s | R-Drop train s |",
        "|---|---|---|---|---|---|",
    ]
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        cells, means, secs = [], {}, {}
        for mode in ("ce", "rdrop"):
            ok = [r for r in rows if r["recipe"] == recipe and r["mode"] == mode and "error" not in r]
            if not ok:
                bad = [r["error"] for r in rows if r["recipe"] == recipe and r["mode"] == mode]
                cells.append(f"failed: {bad[0]}" if bad else "not run")
                continue
            acc, sd = mean_std([r["accuracy"] for r in ok])
            means[mode] = acc
            secs[mode] = sum(r["train_seconds"] for r in ok) / len(ok)
            cells.append(f"{acc:.4f} ± {sd:.4f} (n={len(ok)})")
        diff = f"{100 * (means['rdrop'] - means['ce']):+.2f} points" if len(means) == 2 else ""
        s = [f"{secs[m]:.0f}" if m in secs else "" for m in ("ce", "rdrop")]
        lines.append(f"| {recipe} | {cells[0]} | {cells[-1]} | {diff} | {s[0]} | {s[1]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
