"""No recipe at all: ``fenlei train --set data.train=FILE --set data.test=FILE`` and nothing else,
against scikit-learn TF-IDF + LogisticRegression on the same files, on SST-2, MR, THUCNews
and IMDb.

fenlei trains what its defaults pick from the data (docs: README "No recipe"). scikit-learn is
run two ways on all of train: its defaults (TfidfVectorizer(ngram_range=(1, 2)), characters
1-3 for Chinese, LogisticRegression()), and the tuned setting behind ../shared/data/README.md's
reference numbers (sublinear tf, C=10). Seeds 1-3 for a set whose fenlei run takes under a
minute, one seed otherwise. IMDb's files are the catalog's cached copies (``fenlei data fetch
imdb`` or any run with ``data.name=imdb`` makes them).

    python benchmarks/no_recipe.py
    python benchmarks/no_recipe.py --sets sst2 mr
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, fenlei_train, merge_results, run_meta, saved_rows  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "runs" / "bench-no-recipe"
RESULTS = ROOT / "benchmarks" / "results" / "no_recipe.json"
SETS = ["sst2", "mr", "thucnews", "imdb"]
QUICK = 60.0  # seconds: a run shorter than this is repeated with seeds 2 and 3


def files(name: str) -> tuple[Path, Path]:
    if name == "imdb":
        from fenlei.data.catalog import dataset_files

        found = dataset_files("imdb")  # the cached JSONL files (fetched once if missing)
        return found["train"], found["test"]
    return SHARED / name / "train.tsv", SHARED / name / "test.tsv"


def fenlei_run(name: str, seed: int) -> dict:
    train, test = files(name)
    sets = [f"data.train={train}", f"data.test={test}"]
    if seed != 1:  # seed 1 is the default: the first run names nothing but the files
        sets.append(f"train.seed={seed}")
    done = fenlei_train(sets, OUT / f"{name}-s{seed}")
    if "error" in done:
        return {"error": done["error"]}
    m = done["metrics"]
    return {
        "accuracy": m["test"]["accuracy"],
        "model": done["model"],
        "train_seconds": m["train"]["seconds"],
        "wall_seconds": done["wall_seconds"],
    }


def sklearn_runs(name: str) -> dict:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from fenlei.config import load_config
    from fenlei.data.loading import load_splits

    train, test = files(name)
    splits = load_splits(load_config(None, [f"data.train={train}", f"data.test={test}"]).data)
    texts = list(splits.train.texts) + list(splits.dev.texts)
    y = list(splits.train_ids) + list(splits.dev_ids)
    kind = {"analyzer": "char", "ngram_range": (1, 3)} if name == "thucnews" else {"ngram_range": (1, 2)}
    out = {}
    for label, vec, clf in (
        ("defaults", TfidfVectorizer(**kind), LogisticRegression()),
        ("tuned", TfidfVectorizer(sublinear_tf=True, **kind), LogisticRegression(C=10.0, max_iter=2000)),
    ):
        t0 = time.perf_counter()
        model = make_pipeline(vec, clf).fit(texts, y)
        seconds = time.perf_counter() - t0
        acc = float(np.mean(model.predict(list(splits.test.texts)) == np.asarray(splits.test_ids)))
        out[label] = {"accuracy": acc, "train_seconds": seconds}
    return out


def table(rows: list[dict]) -> str:
    lines = [
        "| set | fenlei, no recipe: model | seeds | test accuracy | train s | scikit-learn defaults "
        "| train s | scikit-learn tuned (C 10, sublinear) | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        runs = [x for x in r["fenlei"] if "error" not in x]
        if not runs:
            lines.append(f"| {r['set']} | failed: {r['fenlei'][0]['error'][:90]} | | | | | | | |")
            continue
        accs = [x["accuracy"] for x in runs]
        acc = f"{statistics.fmean(accs):.4f}" + (f" ± {statistics.stdev(accs):.4f}" if len(accs) > 1 else "")
        secs = statistics.fmean(x["train_seconds"] for x in runs)
        d, t = r["sklearn"]["defaults"], r["sklearn"]["tuned"]
        lines.append(
            f"| {r['set']} | {runs[0]['model']} | {len(runs)} | {acc} | {secs:.1f} | {d['accuracy']:.4f} "
            f"| {d['train_seconds']:.1f} | {t['accuracy']:.4f} | {t['train_seconds']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", nargs="+", default=SETS, choices=SETS)
    parser.add_argument("--print", action="store_true")
    args = parser.parse_args()
    if not args.print:
        meta = run_meta()
        for name in args.sets:
            print(f"[{name}]", file=sys.stderr, flush=True)
            runs = [fenlei_run(name, 1)]
            if "error" not in runs[0] and runs[0]["wall_seconds"] < QUICK:
                runs += [fenlei_run(name, seed) for seed in (2, 3)]
            row = {"set": name, "fenlei": runs, "sklearn": sklearn_runs(name)}
            print(json.dumps(row), file=sys.stderr, flush=True)
            merge_results(RESULTS, [row], meta, ("set",))
    meta, rows = saved_rows(RESULTS, "set", SETS)
    print(f"{meta['machine']}; {meta['date']}\n\n{table(rows)}")


if __name__ == "__main__":
    main()
