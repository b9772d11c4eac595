"""Does ``fenlei tune`` beat the recipe it starts from? ``fenlei tune RECIPE --time T``, then the
best config (DIR/best.yaml) and the recipe itself trained with seeds 1-3 each, side by side in
this run (the tuning's own trials use the recipe's seed and choose on dev; these six runs are
judged on test). Writes benchmarks/results/tune.json.

    python benchmarks/tune.py                                   # sst2-textcnn, 20 minutes
    python benchmarks/tune.py --recipe mr-textcnn --time 10m --threads 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, mean_std, merge_results, run_meta, run_one  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "tune.json"


def run_tune(recipe: str, budget: str, out: Path, threads: int) -> dict:
    """The search itself, in its own process; its summary from the study."""
    cmd = [sys.executable, "-m", "fenlei", "tune", str(ROOT / "configs" / f"{recipe}.yaml"), "-o", str(out)]
    cmd += ["--time", budget]
    if threads:
        cmd += ["--set", f"train.threads={threads}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"fenlei tune failed: {proc.stderr.strip().splitlines()[-1:]}")
    best = [line for line in proc.stdout.splitlines() if line.startswith("best:")]
    overrides = [line.split(": ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("trial ")]
    return {"wall_seconds": wall, "summary": best[-1] if best else "", "trials_started": len(overrides)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="sst2-textcnn")
    ap.add_argument("--time", default="20m")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="train.threads of every run (0: all cores)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-tune")
    args = ap.parse_args()
    study = args.out / args.recipe
    if study.exists():  # a fresh search each time: the budget of an old one may be spent
        subprocess.run(["rm", "-rf", str(study)], check=True)
    search = run_tune(args.recipe, args.time, study, args.threads)
    print(json.dumps(search), flush=True)
    extra = [f"train.threads={args.threads}"] if args.threads else []
    rows = []
    for mode, config in (("recipe", args.recipe), ("tuned", str(study / "best.yaml"))):
        for seed in range(1, args.seeds + 1):
            row = run_one(config, seed, args.out / f"{args.recipe}-{mode}", extra)
            row.update(recipe=args.recipe, mode=mode, budget=args.time)
            print(json.dumps(row), flush=True)
            rows.append(row)
    best_yaml = (study / "best.yaml").read_text()
    meta = run_meta() | {"search": search, "best_yaml": best_yaml}
    rows = merge_results(RESULTS, rows, meta, ("recipe", "mode", "seed"))
    means = {}
    for mode in ("recipe", "tuned"):
        ok = [r for r in rows if r["recipe"] == args.recipe and r["mode"] == mode and "error" not in r]
        means[mode] = mean_std([r["accuracy"] for r in ok])
        secs = sum(r["train_seconds"] for r in ok) / max(len(ok), 1)
        print(f"{mode}: test accuracy {means[mode][0]:.4f} ± {means[mode][1]:.4f} over {len(ok)} seeds, "
              f"{secs:.0f} s train each")  # fmt: skip
    gain = 100 * (means["tuned"][0] - means["recipe"][0])
    print(f"tuned - recipe: {gain:+.2f} points; {search['summary']}")


if __name__ == "__main__":
    main()
