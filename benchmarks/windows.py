"""Long documents with a transformer: overlapping windows + pooling against head-only
truncation at the same window length, on IMDb with minilm-l6.

Both runs: the same subset of IMDb train (``--train`` reviews drawn with seed 1, balanced),
the same 10% dev split of it, the same seed and schedule (sst2-minilm's settings: AdamW,
linear warmup 10% and decay, lr 5e-5, gradient clipping 1.0, ``--epochs``), batches of 32
rows; tested on all 25,000 test reviews. Head-only reads the first ``--window`` tokens
(``data.max_length``); windows read every review up to 8,192 tokens in windows of
``--window`` tokens, ``--window`` / 2 apart (``data.window``), and pool their logits.

    python benchmarks/windows.py                      # 2,000 train reviews, window 128, 2 epochs
    python benchmarks/windows.py --pooling mean max attention
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, fenlei_train, merge_results, run_meta  # noqa: E402

OUT = ROOT / "runs" / "bench-windows"
RESULTS = ROOT / "benchmarks" / "results" / "windows.json"


def write_subset(out: Path, n_train: int) -> tuple[Path, Path]:
    """JSONL files: ``n_train`` train reviews (half per label, seed 1) and all of test."""
    import numpy as np

    from fenlei.config import load_config
    from fenlei.data.loading import load_splits

    splits = load_splits(load_config(None, ["data.name=imdb"]).data)
    names = splits.labels.names
    texts = list(splits.train.texts) + list(splits.dev.texts)
    labels = np.asarray(list(splits.train_ids) + list(splits.dev_ids))
    rng = np.random.default_rng(1)
    per_label = n_train // len(names)
    picked = np.concatenate(
        [rng.choice(np.flatnonzero(labels == k), per_label, replace=False) for k in range(len(names))]
    )
    rng.shuffle(picked)
    out.mkdir(parents=True, exist_ok=True)
    train, test = out / f"train-{n_train}.jsonl", out / "test.jsonl"
    with open(train, "w", encoding="utf-8") as fh:
        for i in picked:
            fh.write(json.dumps({"text": texts[i], "label": names[labels[i]]}, ensure_ascii=False) + "\n")
    with open(test, "w", encoding="utf-8") as fh:
        for text, k in zip(splits.test.texts, splits.test_ids, strict=True):
            fh.write(json.dumps({"text": text, "label": names[k]}, ensure_ascii=False) + "\n")
    return train, test


def run(mode: str, train: Path, test: Path, args, out: Path) -> dict:
    sets = [
        f"data.train={train}", f"data.test={test}", "model.name=transformer", "model.pretrained=minilm-l6",
        "optim.name=adamw", "optim.weight_decay=0.01", "optim.eps=1e-8", "optim.schedule=linear",
        "optim.warmup=0.1", f"train.epochs={args.epochs}", "train.batch_size=32", "train.lr=5e-5",
        "train.grad_clip=1.0", "train.seed=1", "train.tensorboard=false", "train.report=false",
    ]  # fmt: skip
    if mode == "head":
        sets.append(f"data.max_length={args.window}")
    else:
        sets += [f"data.window={args.window}", f"model.window_pooling={mode.removeprefix('windows-')}"]
    done = fenlei_train(sets, out / mode)
    if "error" in done:
        return {"mode": mode, "error": done["error"]}
    m = done["metrics"]
    return {
        "mode": mode,
        "train_reviews": args.train,
        "window": args.window,
        "epochs": args.epochs,
        "accuracy": m["test"]["accuracy"],
        "dev_accuracy": m["dev"]["accuracy"],
        "train_seconds": m["train"]["seconds"],
        "test_texts_per_second": m["test"].get("texts_per_second"),
        "wall_seconds": done["wall_seconds"],
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| mode | train reviews | window | epochs | test accuracy (25k) | dev accuracy | train s "
        "| test texts/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['mode']} | failed: {r['error'][:100]} | | | | | | |")
            continue
        lines.append(
            f"| {r['mode']} | {r['train_reviews']:,} | {r['window']} | {r['epochs']} | {r['accuracy']:.4f} "
            f"| {r['dev_accuracy']:.4f} | {r['train_seconds']:.0f} | {r['test_texts_per_second']:,.0f} |"
        )
    head = next((r for r in rows if r["mode"] == "head" and "error" not in r), None)
    for r in rows:
        if head and r is not head and "error" not in r:
            lines.append(f"\n{r['mode']} - head: {100 * (r['accuracy'] - head['accuracy']):+.2f} points")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=int, default=2000, help="train reviews (half of each label)")
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--pooling", nargs="+", default=["mean"], choices=["mean", "max", "attention"])
    parser.add_argument("--skip-head", action="store_true", help="keep the head-only row already measured")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--print", action="store_true")
    args = parser.parse_args()
    if not args.print:
        meta = run_meta()
        train, test = write_subset(args.out, args.train)
        modes = ([] if args.skip_head else ["head"]) + [f"windows-{p}" for p in args.pooling]
        for mode in modes:
            print(f"[{mode}]", file=sys.stderr, flush=True)
            row = run(mode, train, test, args, args.out)
            print(json.dumps(row), file=sys.stderr, flush=True)
            merge_results(RESULTS, [row], meta, ("mode", "train_reviews", "window", "epochs"))
    results = json.loads(RESULTS.read_text())
    print(f"{results['meta']['machine']}; {results['meta']['date']}\n\n{table(results['rows'])}")


if __name__ == "__main__":
    main()
