"""R-Drop (+ label smoothing 0.1) against plain cross-entropy, recipe by recipe, same seeds.

Each recipe runs as it is (its own objective: cross-entropy in the shipped recipes, adversarial
in sst2-textcnn's, which the R-Drop runs keep too) and with
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
from classic import ROOT, ab_table, merge_results, run_one  # noqa: E402

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
    print(ab_table(rows, ("ce", "rdrop"), ("CE", "R-Drop + LS 0.1")))


if __name__ == "__main__":
    main()
