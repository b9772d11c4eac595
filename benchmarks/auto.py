"""``fenlei auto DATA --time 10m`` on the five benchmark sets, against the bars of issue 21: the
best of scikit-learn TF-IDF + LR and the official fastText on the same split, and fenlei's best
hand-made recipe, both read from the results files of the scripts that measured them
(versus.py, imdb.py, tfidf.py, classic.py). The one bar no script had measured, the official
fastText on the multi-label Reuters-21578, is measured here (one-vs-all loss, wordNgrams 2,
25 epochs, fastText's own 0.5 threshold). Each search is its own process, timed from outside.
Writes benchmarks/results/auto.json.

    python benchmarks/auto.py                                  # all five sets, 10 minutes each
    python benchmarks/auto.py --sets sst2 mr --time 5m
    python benchmarks/auto.py --print                          # the table of results/auto.json

The data sets are catalog names (``fenlei data list``); sst2, mr and thucnews read
../shared/data (FENLEI_DATA_DIR is set to it when unset). THUCNews uses its dev file for
choosing; the others hold out 10% of train.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, merge_results, run_meta, saved_rows  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "auto.json"
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "runs" / "bench-auto"
SETS = ["sst2", "mr", "thucnews", "imdb", "reuters21578"]
# where each bar comes from: (results file, system or recipe names to take the best of)
BASELINE_SYSTEMS = {"tfidf-lr": "scikit-learn TF-IDF + LR", "fasttext-official": "official fastText"}
HAND_MADE = {  # fenlei's recipes written by hand for the set (configs/ or a benchmark's recipe)
    "sst2": ["sst2-fasttext", "sst2-textcnn", "sst2-textrnn", "sst2-minilm", "sst2-e5"],
    "mr": ["mr-textcnn", "mr-minilm"],
    "thucnews": ["thucnews-fasttext", "thucnews-textcnn", "thucnews-textrnn", "thucnews-e5"],
    "imdb": ["fenlei-d2l-textcnn", "fenlei-d2l-birnn"],
    "reuters21578": [],  # no recipe was ever written for it
}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def bars(name: str) -> dict:
    """The two bars of one set: ``baseline`` (best of TF-IDF + LR and official fastText) and
    ``hand_made`` (best recipe, its 3-seed mean where classic.json has one), with their sources."""
    out: dict = {"baselines": {}, "hand_made": {}}
    res = ROOT / "benchmarks" / "results"
    if name in ("sst2", "mr", "thucnews"):
        versus = json.loads((res / "versus.json").read_text())["rows"]
        rows = [r for r in versus if r["system"] in BASELINE_SYSTEMS and r.get("data") == name]
        for r in rows:
            out["baselines"][r["system"]] = r["accuracy"]
        classic = json.loads((res / "classic.json").read_text())["rows"]
        for recipe in HAND_MADE[name]:
            seeds = [r["accuracy"] for r in classic if r["recipe"] == recipe and "accuracy" in r]
            if not seeds:  # only versus.py ran it (one seed)
                seeds = [r["accuracy"] for r in versus if r["recipe"] == recipe]
            if seeds:
                out["hand_made"][recipe] = _mean(seeds)
    elif name == "imdb":
        rows = json.loads((res / "imdb.json").read_text())["rows"]
        for r in rows:
            if r["system"] in BASELINE_SYSTEMS:
                out["baselines"][r["system"]] = r["accuracy"]
            if r["system"] in HAND_MADE[name]:
                out["hand_made"][r["system"]] = r["accuracy"]
    elif name == "reuters21578":
        tfidf = json.loads((res / "tfidf.json").read_text())
        row = next(r for r in tfidf if r["set"] == name)
        out["baselines"]["tfidf-lr"] = row["sklearn"]["micro_f1"]
    return out


def reuters_fasttext() -> dict:
    """The official fastText on Reuters-21578 (all of train; micro-F1 on test at threshold 0.5)."""
    import re
    import tempfile

    import fasttext
    import numpy as np

    from fenlei.config import load_config
    from fenlei.data.loading import load_splits
    from fenlei.evaluation.metrics import multilabel_metrics

    splits = load_splits(load_config(None, ["data.name=reuters21578"]).data)
    names = splits.labels.names

    def prep(text: str) -> str:  # fastText's tutorial: punctuation split off, lowercase, one line
        return " ".join(re.sub(r"([^\w\s])", r" \1 ", text.lower()).split())

    texts = list(splits.train.texts) + list(splits.dev.texts)
    y = np.concatenate([np.asarray(splits.train_ids), np.asarray(splits.dev_ids)])
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as fh:
        for text, row in zip(texts, y, strict=True):
            tags = " ".join(f"__label__{names[j]}" for j in np.flatnonzero(row))
            fh.write(f"{tags} {prep(text)}\n")
    t0 = time.perf_counter()
    model = fasttext.train_supervised(
        input=fh.name, wordNgrams=2, epoch=25, loss="ova", thread=1, seed=1, verbose=0
    )
    seconds = time.perf_counter() - t0
    Path(fh.name).unlink()
    index = {n: j for j, n in enumerate(names)}
    probs = np.zeros((len(splits.test.texts), len(names)), dtype=np.float32)
    # the binding itself: under numpy 2 fastText's predict fails for one text (np.array(copy=False))
    # and gives every label of a text the same probability for a list
    for i, text in enumerate(splits.test.texts):
        for q, lab in model.f.predict(prep(text), -1, 0.0, "strict"):
            j = index.get(lab.removeprefix("__label__"))
            if j is not None:
                probs[i, j] = q
    m = multilabel_metrics(np.asarray(splits.test_ids), probs, names, 0.5)
    return {"micro_f1": m["micro_f1"], "train_seconds": seconds}


def run_auto(name: str, budget: str, out: Path) -> dict:
    """One ``fenlei auto`` in its own process: wall seconds, peak RSS and DIR/auto.json."""
    if out.exists():  # a fresh search each time
        subprocess.run(["rm", "-rf", str(out)], check=True)
    cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "fenlei", "auto", name, "--time", budget]
    cmd += ["-o", str(out)]
    env = {**os.environ, "FENLEI_DATA_DIR": os.environ.get("FENLEI_DATA_DIR", str(SHARED))}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    (out.parent / f"{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1], "wall_seconds": wall}
    summary = json.loads((out / "auto.json").read_text())
    w = summary["winner"]
    families = {}
    for c in summary["candidates"]:
        families[c["family"]] = families.get(c["family"], 0) + 1
    return {
        "wall_seconds": wall,
        "peak_rss_mb": int(proc.stderr.strip().splitlines()[-1]) / 1024,
        "metric": summary["metric"],
        "winner": f"{w['family']} ({w['source']})",
        "dev": w["dev"],
        "test": w["test"],
        "texts_per_second": w["texts_per_second"],
        "size_mb": w["size_mb"],
        "runs": families,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| set | metric | fenlei auto: winner | test | wall s (budget) | best of TF-IDF+LR / fastText | "
        "best hand-made recipe | >= baselines | >= hand-made |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['set']} | | error: {r['error']} | | {r['wall_seconds']:.0f} | | | | |")
            continue
        base = max(r["bars"]["baselines"].items(), key=lambda kv: kv[1])
        hand = max(r["bars"]["hand_made"].items(), key=lambda kv: kv[1], default=None)
        hand_text = f"{hand[1]:.4f} ({hand[0]})" if hand else "none written"
        ok_base = "yes" if r["test"] >= base[1] else "no"
        ok_hand = ("yes" if r["test"] >= hand[1] else "no") if hand else "-"
        lines.append(
            f"| {r['set']} | {r['metric']} | {r['winner']} | **{r['test']:.4f}** | "
            f"{r['wall_seconds']:.0f} ({r['budget']}) | {base[1]:.4f} ({base[0]}) | {hand_text} | "
            f"{ok_base} | {ok_hand} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=SETS, choices=SETS)
    ap.add_argument("--time", default="10m")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--print", action="store_true", help="print the table of results/auto.json and stop")
    args = ap.parse_args()
    if args.print:
        print(table(saved_rows(RESULTS, "set", SETS)[1]))
        return
    rows = []
    for name in args.sets:
        print(f"[{name}] fenlei auto --time {args.time}", file=sys.stderr, flush=True)
        b = bars(name)
        if name == "reuters21578":
            ft = reuters_fasttext()
            b["baselines"]["fasttext-official"] = ft["micro_f1"]
            b["fasttext_official_seconds"] = ft["train_seconds"]
        row = {"set": name, "budget": args.time, "bars": b, **run_auto(name, args.time, args.out / name)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    rows = merge_results(RESULTS, rows, run_meta(), ("set",))
    print(table(rows))


if __name__ == "__main__":
    main()
