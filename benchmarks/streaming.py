"""A corpus bigger than memory should be: one fastText epoch over a generated ~1 GB TSV, streamed.

Generates ``--lines`` rows (default 2,000,000, ~80 words each, 4 classes given away by a few
class words among Zipf-distributed filler), trains ``fasttext`` for one epoch with
``data.streaming: true`` in 1 process and under ``torchrun`` with 2 (same effective batch), and
reports throughput (texts/s of the training loop), the corpus build time and the peak RSS of
the largest process of each run. Prints a markdown table, writes benchmarks/results/streaming.json.

    python benchmarks/streaming.py                      # 2M lines, 1 and 2 processes, batch 512 and 4096
    python benchmarks/streaming.py --lines 100000 --procs 1 --batch-size 512
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["world", "sports", "business", "science"]
# Runs a command and prints the largest peak RSS (kB) among it and every process it waited for.
MAXRSS = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)"
)


def make_words(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct pronounceable lowercase words."""
    cons, vow = list("bcdfghklmnprstvz"), list("aeiou")
    words: set[str] = set()
    while len(words) < n:
        k = int(rng.integers(2, 5))
        words.add("".join(str(rng.choice(cons)) + str(rng.choice(vow)) for _ in range(k)))
    return np.array(sorted(words), dtype=object)


def generate(path: Path, lines: int, seed: int, filler: np.ndarray, cue: np.ndarray) -> None:
    """Write ``lines`` rows of label<TAB>text; 6% of each text's words are its class's cue words."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, len(filler) + 1)
    zipf = (1.0 / ranks) / (1.0 / ranks).sum()
    chunk = 50_000
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("label\ttext\n")
        for start in range(0, lines, chunk):
            n = min(chunk, lines - start)
            labels = rng.integers(0, len(CLASSES), n)
            lengths = rng.integers(40, 121, n)
            words = filler[rng.choice(len(filler), size=int(lengths.sum()), p=zipf)]
            cues = rng.random(len(words)) < 0.06
            owner = np.repeat(labels, lengths)
            # 15% of cue words come from another class: a task with errors left to make
            noisy = rng.random(len(words)) < 0.15
            owner = np.where(noisy, rng.integers(0, len(CLASSES), len(words)), owner)
            words[cues] = cue[owner[cues], rng.integers(0, cue.shape[1], int(cues.sum()))]
            ends = np.cumsum(lengths)
            rows = [
                f"{CLASSES[y]}\t{' '.join(words[e - k : e])}\n"
                for y, e, k in zip(labels.tolist(), ends.tolist(), lengths.tolist(), strict=True)
            ]
            fh.writelines(rows)


def make_data(folder: Path, lines: int) -> dict[str, Path]:
    """train/dev/test TSVs (dev and test 20k rows each); reused when already there."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    vocab = make_words(40_000 + 4 * 300, rng)
    rng.shuffle(vocab)
    filler, cue = vocab[:40_000], vocab[40_000:].reshape(4, 300)
    files = {"train": folder / f"train-{lines}.tsv", "dev": folder / "dev.tsv", "test": folder / "test.tsv"}
    for i, (split, n) in enumerate((("train", lines), ("dev", 20_000), ("test", 20_000))):
        if not files[split].is_file():
            t0 = time.perf_counter()
            generate(files[split], n, seed=i + 1, filler=filler, cue=cue)
            size = files[split].stat().st_size / 2**20
            print(f"generated {files[split]} ({n:,} rows, {size:,.0f} MB) in {time.perf_counter() - t0:.0f}s")
    return files


def run(files: dict[str, Path], procs: int, batch: int, out: Path) -> dict:
    """One epoch of fasttext over the streamed train file with ``procs`` processes."""
    run_dir = out / f"run-{procs}p-b{batch}"
    sets = [
        f"data.train={files['train']}",
        f"data.dev={files['dev']}",
        f"data.test={files['test']}",
        "data.streaming=true",
        "model.name=fasttext",
        "train.epochs=1",
        f"train.batch_size={batch // procs}",  # same effective batch whatever the process count
        "train.lr=0.005",
        "train.report=false",
        "train.tensorboard=false",
        "train.progress=false",
    ]
    args = [a for s in sets for a in ("--set", s)]
    if procs == 1:
        cmd = [sys.executable, "-m", "fenlei", "train", "-o", str(run_dir), "--overwrite", "-q", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs)]
        cmd += ["-m", "fenlei", "train", "-o", str(run_dir), "--overwrite", "-q", *args]
    t0 = time.perf_counter()
    env = os.environ | {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // procs))}
    proc = subprocess.run([sys.executable, "-c", MAXRSS, *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"procs": procs, "batch": batch, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    m = json.loads((run_dir / "metrics.json").read_text())
    rows = m["data"]["train"]
    loop = m["train"]["seconds"]
    return {
        "procs": procs,
        "batch": batch,
        "threads_per_process": int(env["OMP_NUM_THREADS"]),
        "effective_batch": m["train"]["effective_batch_size"],
        "train_rows": rows,
        "accuracy": m["test"]["accuracy"],
        "train_seconds": loop,
        "texts_per_second": rows / loop,
        "build_and_other_seconds": m["train"]["total_seconds"] - loop,
        "wall_seconds": wall,
        "peak_rss_mb_rank0": m["train"]["peak_rss_mb"],
        "peak_rss_mb_largest_process": int(proc.stderr.strip().splitlines()[-1]) / 1024,
        "corpus_mb": sum(f.stat().st_size for f in (run_dir / "corpus").iterdir()) / 2**20,
    }


def table(results: list[dict], lines: int, size_mb: float) -> str:
    out = [
        f"fasttext, 1 epoch over {lines:,} generated lines ({size_mb:,.0f} MB TSV), data.streaming: true",
        "",
        "| processes | threads each | effective batch | test acc | loop s | texts/s | build+eval s "
        "| peak RSS MB (largest process) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            out.append(f"| {r['procs']} | failed: {r['error']} |")
            continue
        out.append(
            f"| {r['procs']} | {r['threads_per_process']} | {r['effective_batch']} | {r['accuracy']:.4f} "
            f"| {r['train_seconds']:.0f} | {r['texts_per_second']:,.0f} | {r['build_and_other_seconds']:.0f} "
            f"| {r['peak_rss_mb_largest_process']:,.0f} |"
        )
    out.append("")
    for batch in dict.fromkeys(r["batch"] for r in results):
        ok = [r for r in results if r["batch"] == batch and "error" not in r]
        if len(ok) > 1:
            gain = ok[-1]["texts_per_second"] / ok[0]["texts_per_second"]
            out.append(
                f"Batch {batch}: throughput from {ok[0]['procs']} to {ok[-1]['procs']} processes x{gain:.2f}"
            )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--batch-size",
        type=int,
        nargs="+",
        default=[512, 4096],
        help="effective batches (split across processes)",
    )
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "fenlei-stream")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and runs")
    args = parser.parse_args()
    files = make_data(args.data, args.lines)
    results = [run(files, p, b, args.data) for b in args.batch_size for p in args.procs]
    size_mb = files["train"].stat().st_size / 2**20
    text = table(results, args.lines, size_mb)
    print(text)
    record = {
        "lines": args.lines,
        "train_mb": size_mb,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }
    out = ROOT / "benchmarks" / "results" / "streaming.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    if not args.keep:
        import shutil

        shutil.rmtree(args.data, ignore_errors=True)


if __name__ == "__main__":
    main()
