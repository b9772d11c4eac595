"""Batched prediction speed of classic runs on each torch backend, side by side in one process:
fp32 (``--backend torch``) against bf16 (``--backend torch-bf16``, what ``auto`` picks on a CPU
with AMX), with each backend's test accuracy and the FLOPs a text costs.

Each backend predicts the whole test set as one list (``fenlei.load(run, backend).predict``),
in turns, 5 rounds; the figure is the median round. A run directory that is missing is trained
first from ``configs/<recipe>.yaml`` (seed 1).

    python benchmarks/inference_speed.py                            # thucnews-textcnn, sst2-textcnn
    python benchmarks/inference_speed.py --recipes thucnews-textcnn --rounds 7

FLOPs per text: 2 x the multiply-adds of the filter banks at every position of the text as
encoded (sum over widths k of k x input channels x filters), the bound the GEMM works against;
embedding lookups, pooling and the output layer are left out (under 1%).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, merge_results, read_rows, run_meta, run_one, saved_rows  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "inference_speed.json"
RUNS = ROOT / "runs" / "bench-inference"
DEFAULT = ["thucnews-textcnn", "sst2-textcnn"]
BACKENDS = ["torch", "torch-bf16"]
# Chinese-Text-Classification-Pytorch's TextCNN on THUCNews titles, measured on this machine's kind
# (issue 24): the figure the acceptance asks fenlei to beat 10x
CHINESE_REPO_TEXTS_PER_S = 1866


def data_of(recipe: str) -> str:
    """The data set a recipe reads (configs/<data>-<family>.yaml)."""
    return recipe.split("-")[0]


def conv_flops(predictor, texts: list[str]) -> float:
    """FLOPs per text of a TextCNN's filter banks on these texts (see the module docstring)."""
    model = predictor.model
    p = model.params
    channels = model.convs[0].in_channels
    macs = sum(k * channels * p.num_filters for k in p.filter_sizes)
    positions = statistics.fmean(
        max(len(ids), max(p.filter_sizes)) for ids in predictor.encoder.encode(texts)
    )
    return 2.0 * macs * positions


def measure(run_dir: Path, rounds: int) -> list[dict]:
    """One row per backend: median texts/s, accuracy, agreement with fp32."""
    import numpy as np

    from fenlei.inference import load

    recipe = run_dir.name.removesuffix("-s1")
    rows = read_rows(ROOT.parent / "shared" / "data" / data_of(recipe) / "test.tsv")
    texts, gold = [t for t, _ in rows], np.array([y for _, y in rows])
    predictors = {b: load(run_dir, b) for b in BACKENDS}
    for p in predictors.values():
        p.predict(texts[:256])  # warm: allocations, oneDNN kernels
    speeds: dict[str, list[float]] = {b: [] for b in BACKENDS}
    labels = {}
    for _ in range(rounds):
        for b, p in predictors.items():
            t0 = time.perf_counter()
            out = p.predict(texts)
            speeds[b].append(len(texts) / (time.perf_counter() - t0))
            labels[b] = np.array([r["label"] for r in out])
    flops = conv_flops(predictors["torch"], texts)
    result = []
    for b in BACKENDS:
        tps = statistics.median(speeds[b])
        result.append(
            {
                "recipe": recipe,
                "backend": b,
                "texts_per_second": tps,
                "rounds": [round(s) for s in speeds[b]],
                "accuracy": float(np.mean(labels[b] == gold)),
                "agreement_with_fp32": float(np.mean(labels[b] == labels["torch"])),
                "gflops_per_text": flops / 1e9,
                "achieved_gflops": flops * tps / 1e9,
            }
        )
    return result


def table(rows: list[dict]) -> str:
    lines = [
        "| recipe | backend | texts/s (median) | vs fp32 | test accuracy | agreement with fp32 "
        "| MFLOP/text | GFLOP/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fp32 = {r["recipe"]: r["texts_per_second"] for r in rows if r["backend"] == "torch"}
    for r in rows:
        lines.append(
            f"| {r['recipe']} | {r['backend']} | {r['texts_per_second']:,.0f} | "
            f"{r['texts_per_second'] / fp32[r['recipe']]:.2f}x | {r['accuracy']:.4f} | "
            f"{r['agreement_with_fp32']:.4f} | {r['gflops_per_text'] * 1e3:.1f} | "
            f"{r['achieved_gflops']:.0f} |"
        )
    th = [r for r in rows if r["recipe"] == "thucnews-textcnn" and r["backend"] == "torch-bf16"]
    if th:
        ratio = th[0]["texts_per_second"] / CHINESE_REPO_TEXTS_PER_S
        lines.append(
            f"\nthucnews-textcnn, torch-bf16: {ratio:.1f}x Chinese-Text-Classification-Pytorch's "
            f"{CHINESE_REPO_TEXTS_PER_S:,} texts/s (acceptance: >= 10x)."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipes", nargs="+", default=DEFAULT)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the run directories are (or go)")
    parser.add_argument("--print", action="store_true", help="only print the table of the results file")
    args = parser.parse_args()
    if args.print:
        print(table(saved_rows(OUT, "recipe", args.recipes)[1]))
        return
    rows = []
    for recipe in args.recipes:
        run_dir = args.runs / f"{recipe}-s1"
        if not (run_dir / "metrics.json").is_file():
            print(f"[{recipe}] training {run_dir} ...", flush=True)
            done = run_one(recipe, 1, args.runs, ["train.report=false"])
            if "error" in done:
                raise SystemExit(f"{recipe}: {done['error']}")
        rows += measure(run_dir, args.rounds)
        print(json.dumps(rows[-1]), flush=True)
    merge_results(OUT, rows, run_meta(), ("recipe", "backend"))
    print(table(rows))


if __name__ == "__main__":
    main()
