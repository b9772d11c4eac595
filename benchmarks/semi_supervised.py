"""UDA against supervised-only training on the same few labels, and against full supervision.

For each task: the UDA recipe, the same recipe with ``objective.name=cross_entropy`` (the
labelled subset only), and the fully supervised recipe, over ``--seeds`` seeds. Prints a
markdown table with the gains and the share of the gap to full supervision that UDA closes;
writes benchmarks/results/semi_supervised.json.

    python benchmarks/semi_supervised.py                         # both tasks, 3 seeds
    python benchmarks/semi_supervised.py --tasks thucnews --seeds 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, mean_std, merge_results, run_meta, run_one  # noqa: E402

TASKS = {
    # task: (few-label UDA recipe, fully supervised recipe)
    "sst2": ("sst2-uda-20", "sst2-minilm"),
    "thucnews": ("thucnews-uda-100", "thucnews-textcnn"),
}
MODES = {
    "uda": [],
    "supervised": ["objective.name=cross_entropy"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-full", action="store_true", help="do not run the fully supervised recipe")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-semi")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="few-label override")
    args = parser.parse_args()
    rows = []
    for task in args.tasks:
        few, full = TASKS[task]
        runs = [(mode, few, MODES[mode] + args.extra) for mode in MODES]
        if not args.skip_full:
            runs.append(("full", full, []))
        for mode, recipe, extra in runs:
            for seed in range(1, args.seeds + 1):
                row = run_one(recipe, seed, args.out / mode, extra)
                row.update(task=task, mode=mode)
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    meta = run_meta() | {"extra": args.extra}
    rows = merge_results(
        ROOT / "benchmarks" / "results" / "semi_supervised.json", rows, meta, ("task", "mode")
    )
    print(f"date {meta['date']}; commit {meta['commit']}\n")
    print(table(rows))


def table(rows: list[dict]) -> str:
    lines = [
        "| task | mode | seeds | test accuracy | train s |",
        "|---|---|---|---|---|",
    ]
    means: dict[tuple[str, str], float] = {}
    for task in dict.fromkeys(r["task"] for r in rows):
        for mode in ("supervised", "uda", "full"):
            ok = [r for r in rows if r["task"] == task and r["mode"] == mode and "error" not in r]
            bad = [r for r in rows if r["task"] == task and r["mode"] == mode and "error" in r]
            if bad and not ok:
                lines.append(f"| {task} | {mode} | failed: {bad[0]['error']} | | |")
            if not ok:
                continue
            acc, sd = mean_std([r["accuracy"] for r in ok])
            means[task, mode] = acc
            secs = sum(r["train_seconds"] for r in ok) / len(ok)
            name = f"{mode} ({ok[0]['recipe']})"
            lines.append(f"| {task} | {name} | {len(ok)} | {acc:.4f} ± {sd:.4f} | {secs:.0f} |")
    lines.append("")
    for task in dict.fromkeys(r["task"] for r in rows):
        sup, uda, full = (means.get((task, m)) for m in ("supervised", "uda", "full"))
        if sup is None or uda is None:
            continue
        gain = f"{task}: UDA - supervised = {100 * (uda - sup):+.1f} points"
        if full is not None and full > sup:
            gain += f"; closes {(uda - sup) / (full - sup):.0%} of the gap to full supervision"
        lines.append(gain)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
