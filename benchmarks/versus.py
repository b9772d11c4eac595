"""fenlei against the tools users pick instead, on SST-2, MR, CoLA and THUCNews, one table per set.

Side by side on the same train/test files, each run in its own process (so peak memory is per
run): every classic fenlei family, TextCNN with R-Drop, fenlei's MiniLM (minilm-l6), scikit-learn
TF-IDF + LogisticRegression (word 1-2 grams; char 1-3 grams for Chinese), the official fastText
(wordNgrams 2, 25 epochs; characters split by spaces for Chinese) and the Hugging Face Trainer
configured well (DataCollatorWithPadding + group_by_length) with fenlei's MiniLM settings.
The headline metric is accuracy, MCC for CoLA; every row is printed, winners and losers.

    python benchmarks/versus.py                                # all four sets, 1 seed
    python benchmarks/versus.py --data sst2 --seeds 3 --minilm-rdrop
    python benchmarks/versus.py --data mr --systems tfidf-lr fasttext-official fenlei-textcnn

fenlei holds out 10% of train as dev (THUCNews has its own dev file); the other systems train on
the whole train file, so they see 10% more labelled text. "infer texts/s" is the loaded model
predicting the test texts as one list, for every system (fenlei: ``fenlei.load(RUN).predict``).

    python benchmarks/versus.py --data sst2 thucnews --systems fenlei-fasttext fasttext-official --seeds 3
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, mean_std, read_rows, run_meta, run_one  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
TENCENT = SHARED / "thucnews" / "tencent_char_200d.vec"
OUT_DEFAULT = ROOT / "runs" / "bench-versus"
FAMILIES = ["fasttext", "textcnn", "textrnn", "textrnn_att", "textrcnn", "dpcnn"]
BASELINES = ["tfidf-lr", "fasttext-official", "hf-trainer"]
RDROP = ["objective.name=rdrop", "objective.label_smoothing=0.1"]

# Per data set: language, headline metric, and the published numbers from ../shared/data/README.md.
SETS = {
    "sst2": {
        "lang": "en",
        "metric": "accuracy",
        "reference": "Kim 2014 (trained on phrases too): TextCNN-rand 82.7, -static 86.8, -nonstatic 87.2, "
        "-multichannel 88.1; BERT-base ~93; MiniLM-L6 (H384) 91.5 (dev set)",
    },
    "mr": {
        "lang": "en",
        "metric": "accuracy",
        "reference": "10-fold CV: TextCNN-nonstatic 81.5, NBSVM-bi 79.4",
    },
    "cola": {
        "lang": "en",
        "metric": "mcc",
        "reference": "MCC: BERT-base ~52-57; MiniLM-L6 47.5 (in-domain dev set)",
    },
    "thucnews": {
        "lang": "zh",
        "metric": "accuracy",
        "reference": "180k training titles (18x ours): FastText 92.2, TextCNN 91.2, TextRNN 91.1, "
        "TextRCNN 91.5, DPCNN 91.3, BERT 94.8",
    },
}


# ------------------------------------------------------------------------------ fenlei rows
def fenlei_job(data: str, system: str) -> tuple[str, list[str]]:
    """(recipe path, overrides) for a fenlei system on a data set.

    A shipped recipe ``configs/<data>-<family>.yaml`` is used as it is; otherwise the family's
    recipe for another set in the same language is pointed at this set's files; a family with no
    recipe at all gets plain settings (10 epochs, early stopping, pretrained vectors).
    """
    family = system.removeprefix("fenlei-").removesuffix("+rdrop")
    extra = RDROP if system.endswith("+rdrop") else []
    own = ROOT / "configs" / f"{data}-{family}.yaml"
    if own.is_file():
        return str(own), extra
    files = [f"data.train={SHARED / data / 'train.tsv'}", f"data.test={SHARED / data / 'test.tsv'}"]
    zh = SETS[data]["lang"] == "zh"
    files.append(f"data.dev={SHARED / data / 'dev.tsv'}" if zh else "data.dev=null")
    if SETS[data]["metric"] == "mcc":
        files.append("train.metric=mcc")
    siblings = ["thucnews"] if zh and family != "minilm" else ["sst2", "mr", "cola"]
    for sibling in siblings:
        template = ROOT / "configs" / f"{sibling}-{family}.yaml"
        if template.is_file():
            return str(template), files + (["data.max_length=48"] if zh else []) + extra
    # No recipe for this family anywhere: a plain one, written next to its runs.
    plain = {
        "tokenizer": {"kind": "char" if zh else "word"},
        "model": {"name": family, "vectors": str(TENCENT) if zh else "glove-6b-50d"},
        "train": {"epochs": 10, "patience": 3, "batch_size": 64, "lr": 0.001, "grad_clip": 5.0},
    }
    if zh:
        plain["data"] = {"max_length": 48}
    path = OUT_DEFAULT / "recipes" / f"{data}-{family}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plain, indent=2))  # JSON is YAML
    return str(path), files + extra


def run_fenlei(data: str, system: str, seed: int, out: Path) -> dict:
    recipe, extra = fenlei_job(data, system)
    row = run_one(recipe, seed, out / data / system, [*extra, "train.report=false"])  # recipe: a path
    row["recipe"] = Path(recipe).stem  # the recipe used (or adapted: see fenlei_job)
    row["overrides"] = extra
    if "error" not in row:  # as the official's row measures it: the loaded model, predicting a list
        row["eval_texts_per_second"] = row["texts_per_second"]
        row["texts_per_second"] = predictor_speed(out / data / system / f"{row['recipe']}-s{seed}", data)
    return row


def predictor_speed(run_dir: Path, data: str) -> float:
    """Texts/s of ``fenlei.load(run_dir).predict`` on the test texts (its default backend: numpy
    for fastText runs, torch otherwise), in a fresh process like the baselines' workers."""
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[3]); from classic import read_rows; "
        "from fenlei.inference import load; texts = [t for t, _ in read_rows(sys.argv[2])]; "
        "p = load(sys.argv[1]); t0 = time.perf_counter(); p.predict(texts); "
        "print(len(texts) / (time.perf_counter() - t0))"
    )
    test = SHARED / data / "test.tsv"
    args = [sys.executable, "-c", code, str(run_dir), str(test), str(Path(__file__).parent)]
    proc = subprocess.run(args, capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ baselines
def scores(gold: list[str], pred: list[str]) -> dict:
    from sklearn import metrics as skm

    return {
        "accuracy": float(skm.accuracy_score(gold, pred)),
        "macro_f1": float(skm.f1_score(gold, pred, average="macro")),
        "mcc": float(skm.matthews_corrcoef(gold, pred)),
    }


def tfidf_lr(train, test, zh: bool, seed: int) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    kind = {"analyzer": "char", "ngram_range": (1, 3)} if zh else {"ngram_range": (1, 2)}
    vec = TfidfVectorizer(sublinear_tf=True, **kind)
    # C=10 with sublinear tf: the setting behind the reference numbers in ../shared/data/README.md
    model = make_pipeline(vec, LogisticRegression(C=10.0, max_iter=2000, random_state=seed))
    t0 = time.perf_counter()
    model.fit([t for t, _ in train], [y for _, y in train])
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = model.predict([t for t, _ in test])
    speed = len(test) / (time.perf_counter() - t0)
    return {**scores([y for _, y in test], list(pred)), "train_seconds": seconds, "texts_per_second": speed}


def fasttext_official(train, test, zh: bool, seed: int) -> dict:
    import fasttext

    def prep(text: str) -> str:
        return " ".join(text.replace(" ", "")) if zh else text

    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as fh:
        for text, label in train:
            fh.write(f"__label__{label} {prep(text)}\n")
    t0 = time.perf_counter()
    # One thread: fastText's result is then reproducible (it has no seed option otherwise).
    model = fasttext.train_supervised(input=fh.name, wordNgrams=2, epoch=25, thread=1, seed=seed, verbose=0)
    seconds = time.perf_counter() - t0
    Path(fh.name).unlink()
    t0 = time.perf_counter()
    labels, _ = model.predict([prep(t) for t, _ in test])
    speed = len(test) / (time.perf_counter() - t0)
    pred = [lab[0].removeprefix("__label__") for lab in labels]
    return {**scores([y for _, y in test], pred), "train_seconds": seconds, "texts_per_second": speed}


def hf_trainer(train, test, zh: bool, seed: int, data: str) -> dict:
    """The Trainer 'configured well' with the settings of fenlei's MiniLM recipe for this set."""
    import yaml
    from transformer_speed import run_trainer

    recipe, _ = fenlei_job(data, "fenlei-minilm")
    cfg = yaml.safe_load(Path(recipe).read_text())
    names = sorted({y for _, y in train})
    index = {n: i for i, n in enumerate(names)}
    settings = argparse.Namespace(
        epochs=cfg["train"]["epochs"],
        batch_size=cfg["train"]["batch_size"],
        lr=float(cfg["train"]["lr"]),
        warmup=cfg.get("optim", {}).get("warmup", 0.1),
        seed=seed,
        max_length=48 if zh else cfg.get("data", {}).get("max_length", 128),
    )
    with tempfile.TemporaryDirectory() as tmp:
        r = run_trainer(
            settings,
            [(t, index[y]) for t, y in train],
            [(t, index[y]) for t, y in test],
            Path(tmp),
            well=True,
            num_labels=len(names),
        )
    pred = [names[i] for i in r["predictions"]]
    gold = [names[i] for i in r["label_ids"]]
    return {
        **scores(gold, pred),
        "train_seconds": r["train_seconds"],
        "texts_per_second": r["texts_per_second"],
    }


def worker(system: str, data: str, seed: int, out_json: Path) -> None:
    """One baseline run in this process; its peak RSS is the process's."""
    train, test = read_rows(SHARED / data / "train.tsv"), read_rows(SHARED / data / "test.tsv")
    zh = SETS[data]["lang"] == "zh"
    if system == "tfidf-lr":
        result = tfidf_lr(train, test, zh, seed)
    elif system == "fasttext-official":
        result = fasttext_official(train, test, zh, seed)
    else:
        result = hf_trainer(train, test, zh, seed, data)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out_json.write_text(json.dumps(result))


def run_baseline(data: str, system: str, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            system,
            "--data",
            data,
            "--seeds",
            str(seed),
            "--out",
            str(out),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file():
            return {"recipe": system, "seed": seed, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
        return {"recipe": system, "seed": seed, **json.loads(out.read_text())}


# ------------------------------------------------------------------------------ table
def table(data: str, rows: list[dict]) -> str:
    metric = SETS[data]["metric"]
    head = "test MCC" if metric == "mcc" else "test accuracy"
    lines = [
        f"| system | seeds | {head} | macro-F1 | train s | infer texts/s | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    best: dict[str, tuple[float, str]] = {}
    for system in dict.fromkeys(r["system"] for r in rows):
        mine = [r for r in rows if r["system"] == system]
        ok = [r for r in mine if "error" not in r]
        if not ok:
            lines.append(f"| {system} | failed: {mine[0]['error'][:100]} | | | | | |")
            continue
        m, sd = mean_std([r[metric] for r in ok])
        f1, f1_sd = mean_std([r["macro_f1"] for r in ok])
        pm = len(ok) > 1  # "± std" only means something over several seeds
        train_s, _ = mean_std([r["train_seconds"] for r in ok])
        speed, _ = mean_std([r["texts_per_second"] for r in ok])
        mem = max(r["peak_rss_mb"] for r in ok)
        value = f"{m:.4f} ± {sd:.4f}" if pm else f"{m:.4f}"
        f1_value = f"{f1:.4f} ± {f1_sd:.4f}" if pm else f"{f1:.4f}"
        lines.append(
            f"| {system} | {len(ok)} | {value} | {f1_value} | {train_s:.1f} | {speed:,.0f} | {mem:,.0f} |"
        )
        side = (
            "fenlei" if system.startswith("fenlei") else ("trainer" if system == "hf-trainer" else "classic")
        )
        if m > best.get(side, (-2.0, ""))[0]:
            best[side] = (m, system)
    verdict = ""
    if "fenlei" in best and "classic" in best:
        (ours, who), (theirs, rival) = best["fenlei"], best["classic"]
        word = "beats" if ours > theirs else "LOSES to"
        verdict = (
            f"\nBest fenlei ({who}, {ours:.4f}) {word} the best of TF-IDF+LR and fastText "
            f"({rival}, {theirs:.4f}) by {ours - theirs:+.4f}."
        )
    return "\n".join(lines) + verdict + f"\n\nPublished: {SETS[data]['reference']}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--systems", nargs="+", help="only these rows (default: all)")
    parser.add_argument("--minilm-rdrop", action="store_true", help="also MiniLM with R-Drop (slow on CPU)")
    parser.add_argument("--out", type=Path, default=OUT_DEFAULT)
    parser.add_argument("--print", action="store_true", help="only print the tables of results/versus.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.print:
        print_tables(json.loads((ROOT / "benchmarks" / "results" / "versus.json").read_text()))
        return
    if args.worker:  # internal: one baseline run; --seeds is its seed, --out its result file
        worker(args.worker, args.data[0], args.seeds, args.out)
        return
    systems = [f"fenlei-{f}" for f in FAMILIES] + ["fenlei-textcnn+rdrop", "fenlei-minilm"]
    systems += ["fenlei-minilm+rdrop"] if args.minilm_rdrop else []
    systems += BASELINES
    systems = [s for s in systems if not args.systems or s in args.systems]
    rows = []
    for data in args.data:
        for system in systems:
            for seed in range(1, args.seeds + 1):
                t0 = time.perf_counter()
                if system.startswith("fenlei"):
                    row = run_fenlei(data, system, seed, args.out)
                else:
                    row = run_baseline(data, system, seed)
                row.update(system=system, data=data, wall_seconds=time.perf_counter() - t0)
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    meta = {**run_meta(), "seeds": args.seeds}
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / "versus.json"
    kept = []
    if path.is_file():  # a partial rerun replaces only the (data, system) pairs it ran
        prev = json.loads(path.read_text())
        ran = {(r["data"], r["system"]) for r in rows}
        kept = [r for r in prev["rows"] if (r["data"], r["system"]) not in ran]
    for r in rows:
        r["commit"] = meta["commit"]
    all_rows = kept + rows
    path.write_text(json.dumps({"meta": meta, "rows": all_rows}, indent=2) + "\n")
    print_tables({"meta": meta, "rows": all_rows})


def print_tables(results: dict) -> None:
    """One markdown table per data set, with the machine, date and commit on top."""
    meta, rows = results["meta"], results["rows"]
    print(f"{meta['machine']}; {meta['date']}; commit {meta['commit']}\n")
    for data in dict.fromkeys(r["data"] for r in rows):
        print(f"### {data}\n")
        print(table(data, [r for r in rows if r["data"] == data]) + "\n")


if __name__ == "__main__":
    main()
