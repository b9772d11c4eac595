"""How faithful fenlei's explanations are, and what they cost: ``fenlei explain --faithfulness`` on
500 test texts of SST-2 and THUCNews for fasttext, textcnn, textrnn, tfidf and a transformer
(minilm-l6 for English, e5-small-multilingual for Chinese).

Each model is trained first with short settings (its recipe in configs/ with ``--epochs``
epochs; tfidf at its defaults), or taken from an existing run directory (``--run``). The row
is comprehensiveness at 20% of the tokens (the drop in the explained label's probability when
the top-attributed fifth of the tokens is cut out of the text; higher is better) against
cutting as many random tokens, sufficiency at 20% (lower is better), and milliseconds of
explaining per text. Each step runs in its own process. Writes benchmarks/results/explain.json
(a partial rerun replaces only its rows) and prints a markdown table.

    python benchmarks/explain.py                                    # every set and family
    python benchmarks/explain.py --sets sst2 --families fasttext tfidf
    python benchmarks/explain.py --run sst2:textcnn=runs/sst2-textcnn    # an existing run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, merge_results, run_meta  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SETS = ["sst2", "thucnews"]
FAMILIES = ["fasttext", "textcnn", "textrnn", "tfidf", "transformer"]
# The transformer of each set: its recipe (configs/<name>.yaml), whose model.pretrained names it.
TRANSFORMER = {"sst2": "sst2-minilm", "thucnews": "thucnews-e5"}
# what a row keeps of `fenlei explain --faithfulness --json`
FAITHFULNESS_KEYS = ("texts", "method", "ms_per_text", "comprehensiveness", "comprehensiveness_random",
                     "sufficiency", "sufficiency_random")  # fmt: skip


def train_cmd(data: str, family: str, epochs: int, run_dir: Path) -> list[str]:
    """``fenlei train`` of one family on one set, short: the recipe at ``epochs`` epochs."""
    cmd = [sys.executable, "-m", "fenlei", "train"]
    if family == "tfidf":  # closed form, no recipe: its defaults on the set's files
        files = {"train": SHARED / data / "train.tsv", "test": SHARED / data / "test.tsv"}
        sets = [f"data.{k}={v}" for k, v in files.items()] + ["model.name=tfidf"]
    else:
        recipe = TRANSFORMER[data] if family == "transformer" else f"{data}-{family}"
        cmd.append(str(ROOT / "configs" / f"{recipe}.yaml"))
        sets = [f"train.epochs={epochs}"]
    sets += ["train.tensorboard=false", "train.report=false", "train.seed=1"]
    return [*cmd, "-o", str(run_dir), "--overwrite", "--quiet", *(x for s in sets for x in ("--set", s))]


def _run(cmd: list[str]) -> tuple[str | None, float]:
    """(the last stderr line when it failed, else None; wall seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or ["?"])[-1], wall
    return None, wall


def bench_one(data: str, family: str, run_dir: Path | None, args) -> dict:
    """Train (unless ``run_dir`` is given), then faithfulness on ``args.samples`` test texts."""
    row: dict = {"set": data, "family": family}
    if run_dir is None:
        run_dir = args.out / f"{data}-{family}"
        err, wall = _run(train_cmd(data, family, args.epochs, run_dir))
        row["train_wall_seconds"] = round(wall, 1)
        if err:
            return {**row, "error": f"train: {err}"}
    row["run_dir"] = str(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    row["accuracy"] = metrics.get("test", {}).get("accuracy")
    out = args.out / f"{data}-{family}.faithfulness.json"
    cmd = [sys.executable, "-m", "fenlei", "explain", str(run_dir), "--faithfulness"]
    cmd += ["--data", str(SHARED / data / "test.tsv"), "--samples", str(args.samples)]
    cmd += ["--seed", str(args.seed), "--json", str(out)]
    err, wall = _run(cmd)
    row["explain_wall_seconds"] = round(wall, 1)
    if err:
        return {**row, "error": f"explain: {err}"}
    f = json.loads(out.read_text())
    return {**row, **{k: f[k] for k in FAITHFULNESS_KEYS}}


def table(rows: list[dict]) -> str:
    lines = [
        "| set | family | test accuracy | method | texts | comprehensiveness@20% | random | "
        "sufficiency@20% | random | ms per text |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['set']} | {r['family']} | failed: {r['error']} | | | | | | | |")
            continue
        c, s = r["comprehensiveness"]["0.2"], r["sufficiency"]["0.2"]
        cr, sr = r["comprehensiveness_random"]["0.2"], r["sufficiency_random"]["0.2"]
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
        lines.append(
            f"| {r['set']} | {r['family']} | {acc} | {r['method']} | {r['texts']} | **{c:+.4f}** | {cr:+.4f} "
            f"| {s:+.4f} | {sr:+.4f} | {r['ms_per_text']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=SETS, choices=SETS)
    parser.add_argument("--families", nargs="+", default=FAMILIES, choices=FAMILIES)
    parser.add_argument("--samples", type=int, default=500, help="test texts explained per model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and the random tokens")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each recipe (tfidf: closed form)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-explain")
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="SET:FAMILY=RUN_DIR",
        help="use this finished run instead of training (repeatable)",
    )
    args = parser.parse_args()
    given = {}
    for spec in args.run:
        key, _, path = spec.partition("=")
        given[tuple(key.split(":", 1))] = Path(path)
    jobs = [(d, f) for d in args.sets for f in args.families]
    jobs += [k for k in given if k not in jobs]
    meta = run_meta()
    path = ROOT / "benchmarks" / "results" / "explain.json"
    rows = []
    for data, family in jobs:
        row = bench_one(data, family, given.get((data, family)), args)
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
        merged = merge_results(path, rows, meta, ("set", "family"))  # after each row: a crash keeps the rest
    print(f"machine: {meta['machine']}; date {meta['date']}; commit {meta['commit']}\n")
    print(table(merged))


if __name__ == "__main__":
    main()
