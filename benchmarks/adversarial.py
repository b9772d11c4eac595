"""Adversarial training (FGM on the embeddings) against plain training, recipe by recipe, same seeds.

Each recipe runs with ``objective.adversarial=0`` and with the perturbation size ``--epsilon``
(default: the recipe's own value, or 1.0 when the recipe has none); everything else stays as the
recipe says. The table shows both means ± std and the difference, whichever way it goes.
Writes benchmarks/results/adversarial.json.

    python benchmarks/adversarial.py                             # the three TextCNN recipes, 3 seeds
    python benchmarks/adversarial.py --recipes mr-textcnn --seeds 1 --epsilon 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, ab_table, merge_results, run_meta, run_one  # noqa: E402

RECIPES = ["sst2-textcnn", "mr-textcnn", "thucnews-textcnn"]


def recipe_epsilon(recipe: str) -> float:
    """The recipe's own ``objective.adversarial`` (0.0 when it trains without it)."""
    from fenlei.config import load_config

    return load_config(str(ROOT / "configs" / f"{recipe}.yaml"), []).objective.adversarial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=RECIPES)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epsilon", type=float, default=None, help="objective.adversarial of the FGM runs")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-adversarial")
    args = parser.parse_args()
    rows = []
    for recipe in args.recipes:
        eps = args.epsilon if args.epsilon is not None else (recipe_epsilon(recipe) or 1.0)
        for mode, value in (("plain", 0.0), ("fgm", eps)):
            for seed in range(1, args.seeds + 1):
                row = run_one(recipe, seed, args.out / mode, [f"objective.adversarial={value}"])
                row |= {"mode": mode, "epsilon": value}
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    meta = run_meta()
    rows = merge_results(ROOT / "benchmarks" / "results" / "adversarial.json", rows, meta, ("recipe", "mode"))
    print(f"date {meta['date']}; commit {meta['commit']}; {meta['machine']}\n")
    print(ab_table(rows, ("plain", "fgm"), ("plain", "adversarial (FGM)")))


if __name__ == "__main__":
    main()
