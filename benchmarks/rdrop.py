"""R-Drop (+ label smoothing 0.1) against plain cross-entropy, recipe by recipe, same seeds.

Each recipe runs with plain cross-entropy and with ``objective.name=rdrop
objective.label_smoothing=0.1``; both arms switch adversarial training off
(``objective.adversarial=0``, which the TextCNN recipes of SST-2 and THUCNews use) so that the
table compares R-Drop with plain CE alone. It shows both means ± std and the difference,
whichever way it goes. Writes benchmarks/results/rdrop.json.

    python benchmarks/rdrop.py                                   # all four recipes, 3 seeds
    python benchmarks/rdrop.py --recipes sst2-textcnn --seeds 1 --alpha 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, ab_table, merge_results, run_meta, run_one  # noqa: E402

RECIPES = ["sst2-textcnn", "mr-textcnn", "sst2-minilm", "mr-minilm"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=RECIPES)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=5.0, help="objective.rdrop_alpha")
    parser.add_argument("--skip-ce", action="store_true", help="only the R-Drop runs")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-rdrop")
    args = parser.parse_args()
    plain = ["objective.adversarial=0"]
    rdrop = [*plain, "objective.name=rdrop", "objective.label_smoothing=0.1"]
    rdrop.append(f"objective.rdrop_alpha={args.alpha}")
    modes = ([] if args.skip_ce else [("ce", plain)]) + [("rdrop", rdrop)]
    rows = []
    for recipe in args.recipes:
        for mode, extra in modes:
            for seed in range(1, args.seeds + 1):
                row = run_one(recipe, seed, args.out / mode, extra)
                row["mode"] = mode
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    meta = run_meta() | {"alpha": args.alpha}
    rows = merge_results(ROOT / "benchmarks" / "results" / "rdrop.json", rows, meta, ("recipe", "mode"))
    print(f"date {meta['date']}; commit {meta['commit']}; alpha {args.alpha}\n")
    print(ab_table(rows, ("ce", "rdrop"), ("CE", "R-Drop + LS 0.1")))


if __name__ == "__main__":
    main()
