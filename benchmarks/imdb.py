"""IMDb (the official 25k / 25k split, from the catalog): every classic fenlei family at its
defaults, the seed tutorials' recipes (d2l's TextCNN and BiRNN with GloVe) configured in
fenlei, scikit-learn TF-IDF + LogisticRegression and the official fastText, side by side.

"At its defaults" means ``fenlei train --set data.name=imdb --set model.name=FAMILY`` and
nothing else (the ``fenlei-default`` row names no model either). fenlei holds out 10% of
train as dev; the baselines train on all 25k. Each fenlei run is its own process.

    python benchmarks/imdb.py                                  # everything (about an hour here)
    python benchmarks/imdb.py --systems fenlei-default tfidf-lr fasttext-official
    python benchmarks/imdb.py --print                          # the table of results/imdb.json

The d2l recipes (Dive into Deep Learning, sentiment-analysis chapters): TextCNN with widths
3/4/5 x 100 filters over a frozen and a trained copy of the word vectors, dropout 0.5, Adam
lr 1e-3, batch 64, 5 epochs; BiRNN: 2-layer bidirectional LSTM with 100 hidden units over
frozen vectors, Adam lr 0.01, batch 64, 5 epochs; both read 500 tokens with words seen at
least 5 times. d2l uses GloVe 6B 100d; the only GloVe installable here is 50d (DESIGN.md §6).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, fenlei_train, merge_results, run_meta, saved_rows  # noqa: E402

OUT = ROOT / "runs" / "bench-imdb"
RESULTS = ROOT / "benchmarks" / "results" / "imdb.json"
FAMILIES = ["tfidf", "fasttext", "textcnn", "textrnn", "textrnn_att", "textrcnn", "dpcnn"]
D2L = {
    "d2l-textcnn": [
        "model.name=textcnn", "model.vectors=glove-6b-50d", "model.static_copy=true",
        "model.filter_sizes=[3,4,5]", "model.num_filters=100", "model.dropout=0.5",
        "data.max_length=500", "tokenizer.min_freq=5", "train.epochs=5", "train.batch_size=64",
        "train.lr=0.001",
    ],
    "d2l-birnn": [
        "model.name=textrnn", "model.vectors=glove-6b-50d", "model.freeze_embeddings=true",
        "model.hidden_size=100", "model.num_layers=2", "model.bidirectional=true", "model.dropout=0.0",
        "data.max_length=500", "tokenizer.min_freq=5", "train.epochs=5", "train.batch_size=64",
        "train.lr=0.01",
    ],
    # fastText's own training (issue 24) at the official's epoch count, beside fasttext-official
    "fasttext-sgd": ["model.name=fasttext", "model.solver=sgd", "train.epochs=25"],
}  # fmt: skip
BASELINES = ["tfidf-lr", "tfidf-lr-tuned", "fasttext-official"]
PUBLISHED = (
    "NBSVM-bi 91.2 (Wang & Manning 2012; the mark for linear models); d2l BiRNN about 0.85 and "
    "TextCNN about 0.87 with GloVe 100d; BERT-base about 94"
)


def fenlei_run(system: str, out: Path, threads: int = 0) -> dict:
    """One ``fenlei train`` on IMDb: a family at its defaults, no model at all, or a d2l recipe."""
    sets = ["data.name=imdb", "train.tensorboard=false", "train.report=false"]
    if threads:  # run beside another benchmark without oversubscribing the cores
        sets.append(f"train.threads={threads}")
    if system in D2L:
        sets += D2L[system]
    elif system != "default":
        sets.append(f"model.name={system}")
    done = fenlei_train(sets, out / system)
    if "error" in done:
        return {"error": done["error"]}
    m = done["metrics"]
    return {
        "accuracy": m["test"]["accuracy"],
        "macro_f1": m["test"]["macro_f1"],
        "train_seconds": m["train"]["seconds"],
        "texts_per_second": m["test"].get("texts_per_second"),
        "wall_seconds": done["wall_seconds"],
        "model": done["model"],
        "overrides": sets,
    }


def imdb_texts():
    """(train texts, train labels, test texts, test labels) of the catalog's IMDb: all 25k train."""
    from fenlei.config import load_config
    from fenlei.data.loading import load_splits

    splits = load_splits(load_config(None, ["data.name=imdb"]).data)
    names = splits.labels.names
    train = list(splits.train.texts) + list(splits.dev.texts)
    y = [names[i] for i in list(splits.train_ids) + list(splits.dev_ids)]
    return train, y, list(splits.test.texts), [names[i] for i in splits.test_ids]


def baseline(system: str) -> dict:
    """A baseline in this process, on all 25k train reviews."""
    import numpy as np

    train, y, test, gold = imdb_texts()
    t0 = time.perf_counter()
    if system == "fasttext-official":
        import random
        import re
        import tempfile

        import fasttext

        def prep(text: str) -> str:  # fastText's tutorial: punctuation split off, lowercase
            return " ".join(re.sub(r"([^\w\s])", r" \1 ", text.lower()).split())

        order = list(range(len(train)))
        random.Random(1).shuffle(order)  # the catalog lists all negatives first; SGD needs them mixed
        with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as fh:
            for i in order:
                fh.write(f"__label__{y[i]} {prep(train[i])}\n")
        # wordNgrams 2, 25 epochs, as in benchmarks/versus.py; one thread: reproducible
        model = fasttext.train_supervised(input=fh.name, wordNgrams=2, epoch=25, thread=1, seed=1, verbose=0)
        Path(fh.name).unlink()
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        labels, _ = model.predict([prep(t) for t in test])
        pred = [lab[0].removeprefix("__label__") for lab in labels]
    else:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        if system == "tfidf-lr":  # the ten lines a user writes: library defaults
            model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression())
        else:  # the setting behind ../shared/data/README.md's reference numbers
            vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
            model = make_pipeline(vec, LogisticRegression(C=10.0, max_iter=2000))
        model.fit(train, y)
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = list(model.predict(test))
    speed = len(test) / (time.perf_counter() - t0)
    return {
        "accuracy": float(np.mean(np.asarray(pred) == np.asarray(gold))),
        "train_seconds": seconds,
        "texts_per_second": speed,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| system | model | test accuracy | train s | infer texts/s |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['system']} | | failed: {r['error'][:100]} | | |")
            continue
        speed = f"{r['texts_per_second']:,.0f}" if r.get("texts_per_second") else ""
        cells = [r["system"], r.get("model", ""), f"{r['accuracy']:.4f}", f"{r['train_seconds']:.1f}", speed]
        lines.append("| " + " | ".join(cells) + " |")
    ours = [r for r in rows if r["system"].startswith("fenlei") and "error" not in r]
    theirs = [r for r in rows if not r["system"].startswith("fenlei") and "error" not in r]
    out = "\n".join(lines)
    if ours and theirs:
        a, b = max(ours, key=lambda r: r["accuracy"]), max(theirs, key=lambda r: r["accuracy"])
        word = "beats" if a["accuracy"] > b["accuracy"] else "LOSES to"
        out += (
            f"\n\nBest fenlei ({a['system']}, {a['accuracy']:.4f}) {word} the best baseline "
            f"({b['system']}, {b['accuracy']:.4f}) by {a['accuracy'] - b['accuracy']:+.4f}."
        )
    return out + f"\n\nPublished: {PUBLISHED}."


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    fenlei = ["default", *FAMILIES, *D2L]
    systems = [f"fenlei-{s}" for s in fenlei] + BASELINES
    parser.add_argument("--systems", nargs="+", default=systems, choices=systems)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--print", action="store_true", help="only print the table of results/imdb.json")
    parser.add_argument("--threads", type=int, default=0, help="train.threads of the fenlei runs (0: all)")
    args = parser.parse_args()
    if args.print:
        results = json.loads(RESULTS.read_text())
        print(f"{results['meta']['machine']}; {results['meta']['date']}\n\n{table(results['rows'])}")
        return
    meta = run_meta()
    for system in args.systems:
        print(f"[{system}]", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        if system.startswith("fenlei-"):
            row = fenlei_run(system.removeprefix("fenlei-"), args.out, args.threads)
        else:
            row = baseline(system)
        row.update(system=system, wall_seconds=time.perf_counter() - t0)
        print(json.dumps(row), file=sys.stderr, flush=True)
        # after each row, so a long run that is stopped keeps what it measured
        merge_results(RESULTS, [row], meta, ("system",))
    _, rows = saved_rows(RESULTS, "system", systems)
    print(f"{meta['machine']}; {meta['date']}; commit {meta['commit']}\n\n{table(rows)}")


if __name__ == "__main__":
    main()
