"""fenlei's ``tfidf`` family at its defaults against scikit-learn's TF-IDF + LogisticRegression as a
user would write it in ten lines, on the same train/test files.

fenlei: ``fenlei train --set data.<train/test or name>=... --set model.name=tfidf`` (a dev split
of 10% comes off train; C chosen on it). scikit-learn: TfidfVectorizer(ngram_range=(1, 2))
(characters 1-3 for Chinese) and LogisticRegression() at their defaults on all of train; for
the multi-label Reuters set, one-vs-rest with the decision threshold tuned on the same 10% dev
split fenlei holds out. Prints a markdown table and writes benchmarks/results/tfidf.json.

    python benchmarks/tfidf.py                         # sst2 mr thucnews imdb reuters21578
    python benchmarks/tfidf.py --sets sst2 imdb
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, fenlei_train  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SETS = ["sst2", "mr", "thucnews", "imdb", "reuters21578"]
CATALOG = {"imdb", "reuters21578"}  # fetched through the catalog; the others are ../shared/data files


def fenlei_tfidf(name: str, out: Path) -> dict:
    """One ``fenlei train`` of the tfidf family at its defaults."""
    data = (
        [f"data.name={name}"]
        if name in CATALOG
        else [
            f"data.train={SHARED / name / 'train.tsv'}",
            f"data.test={SHARED / name / 'test.tsv'}",
        ]
    )
    sets = [*data, "model.name=tfidf", "train.tensorboard=false", "train.report=false"]
    done = fenlei_train(sets, out / f"{name}-tfidf")
    if "error" in done:
        return {"error": done["error"]}
    m = done["metrics"]
    return {
        "accuracy": m["test"]["accuracy"],
        "micro_f1": m["test"].get("micro_f1"),
        "train_seconds": m["train"]["seconds"],
        "wall_seconds": done["wall_seconds"],
        "C": m["train"]["closed_form"]["C"],
        "features": m["train"]["closed_form"]["features"],
    }


def sklearn_baseline(name: str) -> dict:
    """The ten-line scikit-learn pipeline on the same files (and the same dev split for Reuters)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from fenlei.config import load_config
    from fenlei.data.loading import load_splits

    if name in CATALOG:
        cfg = load_config(None, [f"data.name={name}"]).data
    else:
        cfg = load_config(
            None, [f"data.train={SHARED / name / 'train.tsv'}", f"data.test={SHARED / name / 'test.tsv'}"]
        ).data
    splits = load_splits(cfg)
    chinese = name == "thucnews"
    vec = (
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
        if chinese
        else TfidfVectorizer(ngram_range=(1, 2))
    )
    t0 = time.perf_counter()
    if (
        splits.test_ids is not None and np.asarray(splits.test_ids).ndim == 2
    ):  # multi-label: OvR + a tuned threshold
        from fenlei.evaluation.metrics import multilabel_metrics
        from fenlei.evaluation.thresholds import tune_thresholds

        x = vec.fit_transform(splits.train.texts)
        clf = OneVsRestClassifier(LogisticRegression()).fit(x, np.asarray(splits.train_ids))
        thr = tune_thresholds(np.asarray(splits.dev_ids), clf.predict_proba(vec.transform(splits.dev.texts)))
        probs = clf.predict_proba(vec.transform(splits.test.texts))
        m = multilabel_metrics(np.asarray(splits.test_ids), probs, splits.labels.names, thr)
        return {
            "accuracy": m["accuracy"],
            "micro_f1": m["micro_f1"],
            "train_seconds": time.perf_counter() - t0,
        }
    # all of train (train + fenlei's dev split), as a user with one train file would
    texts = list(splits.train.texts) + list(splits.dev.texts)
    labels = list(splits.train_ids) + list(splits.dev_ids)
    clf = LogisticRegression().fit(vec.fit_transform(texts), labels)
    pred = clf.predict(vec.transform(splits.test.texts))
    return {
        "accuracy": float(np.mean(pred == np.asarray(splits.test_ids))),
        "train_seconds": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", nargs="+", default=SETS)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-tfidf")
    args = parser.parse_args()
    rows = []
    for name in args.sets:
        print(f"[{name}]", file=sys.stderr, flush=True)
        rows.append(
            {"set": name, "fenlei_tfidf": fenlei_tfidf(name, args.out), "sklearn": sklearn_baseline(name)}
        )
    print("| set | metric | fenlei tfidf (defaults) | train s | scikit-learn TF-IDF + LR | train s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        f, s = row["fenlei_tfidf"], row["sklearn"]
        metric = "micro_f1" if s.get("micro_f1") is not None else "accuracy"
        if "error" in f:
            sk = f"{s[metric]:.4f} | {s['train_seconds']:.1f}"
            print(f"| {row['set']} | {metric} | error: {f['error']} | | {sk} |")
            continue
        print(
            f"| {row['set']} | {metric} | {f[metric]:.4f} (C {f['C']:g}) | {f['train_seconds']:.1f} "
            f"| {s[metric]:.4f} | {s['train_seconds']:.1f} |"
        )
    results = ROOT / "benchmarks" / "results" / "tfidf.json"
    results.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
