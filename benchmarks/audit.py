"""``fenlei audit`` against planted label noise: flip the labels of 5% of a train file (seeded; to
a uniformly drawn other class), audit the flipped file, and train on the clean, the flipped and
the ``--apply`` cleaned train file.

Per set: N flipped; of the top-N suspects (the flagged texts, then the rest, by score) how many
are flipped rows (precision@N); precision and recall of the flagged set; the estimated noise
rate; test accuracy of the three trains, and the share of the accuracy that the flips cost which
training on the cleaned file wins back ((cleaned - flipped) / (clean - flipped)). Every train and
the audit use the same settings (default: the tfidf family; THUCNews with its dev file, SST-2
with a 10% dev split of its train file, as the recipes do). Prints a markdown table and writes
benchmarks/results/audit.json.

    python benchmarks/audit.py                              # sst2 thucnews, tfidf, 5 folds, 5% noise
    python benchmarks/audit.py --sets sst2 --model fasttext --noise 0.1 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, fenlei_train, run_meta  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SETS = ["sst2", "thucnews"]
DEV = {"thucnews": "dev.tsv"}  # the sets whose recipes train with a dev file


def flip(texts: list[str], labels: list[str], share: float, seed: int) -> tuple[list[str], list[int]]:
    """``labels`` with round(share * N) of them, drawn under ``seed``, changed to another class."""
    rng = random.Random(seed)
    classes = sorted(set(labels))
    chosen = sorted(rng.sample(range(len(texts)), round(share * len(texts))))
    out = list(labels)
    for i in chosen:
        out[i] = rng.choice([c for c in classes if c != labels[i]])
    return out, chosen


def write_tsv(path: Path, texts: list[str], labels: list[str]) -> Path:
    from fenlei.auditing.outputs import cell

    lines = ["label\ttext"] + [f"{cell(y)}\t{cell(t)}" for t, y in zip(texts, labels, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bench(name: str, model: str, noise: float, seed: int, folds: int, out: Path, data: Path) -> dict:
    import fenlei
    from fenlei.data.readers import read_examples

    folder = data / name
    train = read_examples(folder / "train.tsv")
    flipped_labels, flipped = flip(train.texts, train.labels, noise, seed)
    work = out / f"{name}-{model}-s{seed}"
    work.mkdir(parents=True, exist_ok=True)
    flipped_file = write_tsv(work / "train.flipped.tsv", train.texts, flipped_labels)
    base = [f"data.test={folder / 'test.tsv'}", f"model.name={model}", "train.tensorboard=false"]
    base += [f"data.dev={folder / DEV[name]}"] if name in DEV else []
    base += ["train.report=false"]
    row: dict = {"set": name, "model": model, "seed": seed, "noise": noise, "texts": len(train)}
    row["flipped"] = len(flipped)

    t0 = time.perf_counter()
    result = fenlei.audit(
        None, folds=folds, output=work / "audit", apply=True, sets=[*base, f"data.train={flipped_file}"]
    )
    row["audit_seconds"] = time.perf_counter() - t0
    assert result.texts == train.texts  # the audit's rows are the file's rows, in order
    planted = set(flipped)
    n = len(flipped)
    row["precision_at_n"] = len(planted & set(result.ranked[:n])) / n
    flagged = set(result.suspects)
    row["flagged"] = len(flagged)
    row["flagged_precision"] = len(flagged & planted) / max(1, len(flagged))
    row["flagged_recall"] = len(flagged & planted) / n
    row["estimated_noise"] = result.noise_rate
    row["removed"] = result.removed
    row["conflicts"] = len(result.conflicts)
    row["held_out_accuracy"] = float((result.ranking.predicted == result.given).mean())

    for kind, path in (
        ("clean", folder / "train.tsv"),
        ("flipped", flipped_file),
        ("cleaned", result.files["cleaned"]),
    ):
        done = fenlei_train([*base, f"data.train={path}"], work / f"train-{kind}")
        if "error" in done:
            row[f"{kind}_error"] = done["error"]
            continue
        row[f"{kind}_accuracy"] = done["metrics"]["test"]["accuracy"]
    if all(f"{k}_accuracy" in row for k in ("clean", "flipped", "cleaned")):
        lost = row["clean_accuracy"] - row["flipped_accuracy"]
        won = row["cleaned_accuracy"] - row["flipped_accuracy"]
        row["recovered"] = won / lost if lost > 0 else None
    return row


def mean_row(rows: list[dict]) -> dict:
    """The mean of the numeric figures of several seeds' rows (the first row's other cells)."""
    out = dict(rows[0])
    for key, value in rows[0].items():
        values = [r.get(key) for r in rows]
        if isinstance(value, float) and all(isinstance(v, float) for v in values):
            out[key] = statistics.mean(values)
    out["seeds"] = [r["seed"] for r in rows]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", nargs="+", default=SETS, choices=SETS)
    parser.add_argument("--model", default="tfidf")
    parser.add_argument("--noise", type=float, default=0.05, help="share of train labels flipped")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-audit")
    parser.add_argument("--data", type=Path, default=SHARED, help="folder of the sst2/ and thucnews/ files")
    args = parser.parse_args()
    rows = []
    for name in args.sets:
        per_seed = []
        for seed in args.seeds:
            print(f"[{name} seed {seed}]", file=sys.stderr, flush=True)
            per_seed.append(bench(name, args.model, args.noise, seed, args.folds, args.out, args.data))
        rows.append({"mean": mean_row(per_seed), "runs": per_seed})
    print(
        "| set | model | flipped | precision@N | flagged (precision / recall) | est. noise | "
        "test acc clean | flipped | cleaned | recovered | audit s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for entry in rows:
        r = entry["mean"]
        rec = r.get("recovered")
        acc = {k: r.get(f"{k}_accuracy", float("nan")) for k in ("clean", "flipped", "cleaned")}
        print(
            f"| {r['set']} | {r['model']} | {r['flipped']:,} of {r['texts']:,} | {r['precision_at_n']:.1%} | "
            f"{r['flagged']:,} ({r['flagged_precision']:.1%} / {r['flagged_recall']:.1%}) | "
            f"{r['estimated_noise']:.1%} | {acc['clean']:.4f} | {acc['flipped']:.4f} | "
            f"{acc['cleaned']:.4f} | "
            f"{'-' if rec is None else f'{rec:.2f}'} | {r['audit_seconds']:.0f} |"
        )
    results = ROOT / "benchmarks" / "results" / "audit.json"
    meta = {**run_meta(), "folds": args.folds, "noise": args.noise, "seeds": args.seeds}
    results.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
