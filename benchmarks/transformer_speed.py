"""fenlei fine-tuning against two Hugging Face Trainer baselines, in one process, same data and model.

(a) Trainer as the transformers text-classification example runs by default: every text padded
    to max_seq_length 128.
(b) Trainer configured well: DataCollatorWithPadding + train_sampling_strategy="group_by_length".
Same epochs, batch size, learning rate, linear schedule with the same warmup, weight decay and
clipping. Prints test accuracy and training samples/s of each and the ratios, then inference
texts/s of fenlei's Predictor against ``pipeline("text-classification", batch_size=64)``.

    python benchmarks/transformer_speed.py --data sst2 --epochs 2
    python benchmarks/transformer_speed.py --max-train 1000 --skip a   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import read_rows  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def read_tsv(path: Path) -> list[tuple[str, int]]:
    """(text, label) pairs with integer labels (SST-2, MR, CoLA: 0/1)."""
    return [(text, int(label)) for text, label in read_rows(path)]


def write_tsv(path: Path, rows: list[tuple[str, int]]) -> str:
    path.write_text("label\ttext\n" + "".join(f"{y}\t{t}\n" for t, y in rows), encoding="utf-8")
    return str(path)


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, items: list[dict]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def run_fenlei(args, train_path: str, dev_path: str, test_path: str, work: Path) -> dict:
    from fenlei.config import load_config
    from fenlei.training.pipeline import train

    cfg_dict = {
        "data": {"train": train_path, "dev": dev_path, "test": test_path, "max_length": 128},
        "model": {"name": "transformer", "pretrained": "minilm-l6"},
        "optim": {"weight_decay": 0.01, "schedule": "linear", "warmup": args.warmup},
        "train": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seed": args.seed,
            "grad_clip": 1.0,
            "tensorboard": False,
            "progress": False,
        },
    }
    (work / "fenlei.yaml").write_text(yaml.safe_dump(cfg_dict))
    result = train(load_config(work / "fenlei.yaml"), work / "fenlei-run", quiet=True)
    m = result.metrics
    return {"accuracy": m["test"]["accuracy"], "train_seconds": m["train"]["seconds"], "run": result.run_dir}


def run_trainer(
    args, train_rows, test_rows, work: Path, well: bool, bf16: bool = False, num_labels: int = 2
) -> dict:
    """Fine-tune MiniLM with the Trainer, (a) or (b); rows are (text, label index)."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        default_data_collator,
    )

    from fenlei.models.hub import resolve_pretrained

    path = resolve_pretrained("minilm-l6")
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels)
    max_length = getattr(args, "max_length", 128)

    def encode(rows):
        pad = {} if well else {"padding": "max_length"}
        enc = tok([t for t, _ in rows], truncation=True, max_length=max_length, **pad)
        return ListDataset(
            [
                {"input_ids": ids, "attention_mask": am, "labels": y}
                for ids, am, (_, y) in zip(enc["input_ids"], enc["attention_mask"], rows, strict=True)
            ]
        )

    targs = TrainingArguments(
        output_dir=str(work / ("hf-b" if well else "hf-a")),
        bf16=bf16,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=64,
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        weight_decay=0.01,
        warmup_steps=args.warmup,
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        seed=args.seed,
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        logging_strategy="no",
        use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="group_by_length" if well else "random",
    )
    collator = DataCollatorWithPadding(tok) if well else default_data_collator
    trainer = Trainer(model=model, args=targs, train_dataset=encode(train_rows), data_collator=collator)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    # group_by_length may reorder predict's output: score against the label_ids it returns.
    test = encode(test_rows)
    t0 = time.perf_counter()
    out = trainer.predict(test)
    speed = len(test_rows) / (time.perf_counter() - t0)
    accuracy = float((out.predictions.argmax(-1) == out.label_ids).mean())
    return {
        "accuracy": accuracy,
        "train_seconds": seconds,
        "texts_per_second": speed,
        "predictions": out.predictions.argmax(-1).tolist(),
        "label_ids": out.label_ids.tolist(),
    }


def inference_speed(run_dir: Path, texts: list[str]) -> dict:
    from transformers import pipeline

    from fenlei.inference.predictor import Predictor

    pred = Predictor(run_dir)
    pred.predict_proba(texts[:64])  # warm-up
    t0 = time.perf_counter()
    pred.predict_proba(texts)
    ours = len(texts) / (time.perf_counter() - t0)
    pipe = pipeline("text-classification", model=str(run_dir / "hf"), device=-1)
    pipe(texts[:64], batch_size=64)
    t0 = time.perf_counter()
    pipe(texts, batch_size=64, truncation=True)
    theirs = len(texts) / (time.perf_counter() - t0)
    return {"fenlei_texts_per_s": ours, "pipeline_texts_per_s": theirs, "ratio": ours / theirs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sst2", help="a folder of ../shared/data with train/test.tsv")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--warmup", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-train", type=int, default=0, help="train on the first N rows only")
    parser.add_argument("--skip", nargs="*", default=[], choices=["a", "b"], help="baselines to leave out")
    parser.add_argument(
        "--trainer-bf16",
        action="store_true",
        help="also run (b) with bf16=True, as fenlei uses bf16 where the CPU has it",
    )
    args = parser.parse_args()

    rows = read_tsv(SHARED / args.data / "train.tsv")
    test_rows = read_tsv(SHARED / args.data / "test.tsv")
    random.Random(0).shuffle(rows)
    n_dev = len(rows) // 10
    dev_rows, train_rows = rows[:n_dev], rows[n_dev:]
    if args.max_train:
        train_rows = train_rows[: args.max_train]
    n = len(train_rows) * args.epochs
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = [
            write_tsv(work / f"{k}.tsv", r)
            for k, r in (("train", train_rows), ("dev", dev_rows), ("test", test_rows))
        ]
        results["fenlei"] = run_fenlei(args, *paths, work)
        if "b" not in args.skip:
            results["trainer_b"] = run_trainer(args, train_rows, test_rows, work, well=True)
        if args.trainer_bf16:
            results["trainer_b_bf16"] = run_trainer(args, train_rows, test_rows, work, well=True, bf16=True)
        if "a" not in args.skip:
            results["trainer_a"] = run_trainer(args, train_rows, test_rows, work, well=False)
        speed = inference_speed(results["fenlei"].pop("run"), [t for t, _ in test_rows])
    for r in results.values():  # per-text outputs are for versus.py's metrics, not this table
        r.pop("predictions", None)
        r.pop("label_ids", None)
    print(
        f"data {args.data}: {len(train_rows)} train x {args.epochs} epochs, "
        f"batch {args.batch_size}, lr {args.lr}"
    )
    print("| setup | test accuracy | train samples/s | fenlei speed-up |")
    print("|---|---|---|---|")
    ours = n / results["fenlei"]["train_seconds"]
    for name, r in results.items():
        sps = n / r["train_seconds"]
        r["samples_per_s"] = sps
        print(f"| {name} | {r['accuracy']:.4f} | {sps:.1f} | {ours / sps:.2f}x |")
    print(
        f"inference: fenlei {speed['fenlei_texts_per_s']:.0f} texts/s, pipeline "
        f"{speed['pipeline_texts_per_s']:.0f} texts/s ({speed['ratio']:.2f}x)"
    )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"transformer_speed_{args.data}.json").write_text(
        json.dumps({"args": vars(args), "results": results, "inference": speed}, indent=2) + "\n"
    )


if __name__ == "__main__":
    np.random.seed(0)
    main()
