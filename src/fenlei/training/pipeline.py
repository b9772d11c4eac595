"""``train(config, run_dir)``: data → encoder → model → the loop → metrics, into one run directory.

Everything a user can get wrong (files, labels, config values) is checked before the run
directory is created, and ``metrics.json`` is written last: a run directory without it
never looks finished.
"""

from __future__ import annotations

import logging
import os
import random
import resource
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fenlei import state_io
from fenlei.config import Config
from fenlei.data.batching import Batches
from fenlei.data.encoder import VocabEncoder
from fenlei.data.hf_encoder import HFEncoder
from fenlei.data.loading import Splits, load_splits
from fenlei.data.multilabel import resolve_config as resolve_multi_label
from fenlei.data.semi import UDABatches
from fenlei.data.streaming import prepare_streaming, use_streaming
from fenlei.errors import ConfigError, FenleiError, TrainingInterrupted
from fenlei.evaluation.multilabel import (
    THRESHOLDS_FILE,
    decide,
    multilabel_metrics,
    save_thresholds,
    tune_thresholds,
)
from fenlei.models import create_model, eval_batch_size
from fenlei.objectives import build_objective
from fenlei.objectives.distill import teacher_probabilities
from fenlei.training import callbacks as cb
from fenlei.training import distributed
from fenlei.training.train_data import AUGMENT_DIR, TrainData, prepare_train_data, save_cache
from fenlei.training.trainer import Trainer, resolve_device

log = logging.getLogger("fenlei")


@dataclass
class RunResult:
    """What ``train`` returns: where the run is and its metrics.json content."""

    run_dir: Path
    metrics: dict
    is_main: bool = True  # False on torchrun ranks other than 0, which wrote nothing


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def default_run_dir(cfg: Config) -> Path:
    """runs/<data>-<model>-<time> when the user gives no -o."""
    data = cfg.data.name or (Path(cfg.data.train).parent.name if cfg.data.train else "data")
    return Path("runs") / f"{data}-{cfg.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def fit_encoder(cfg: Config, texts: list[str]) -> tuple[VocabEncoder | HFEncoder, list]:
    """The model's kind of encoder, fitted on the training texts, and those texts encoded/tokenised."""
    from fenlei.models import model_class

    d = cfg.data
    if model_class(cfg.model.name).encoder_type == "hf":
        if cfg.model.vectors:
            raise ConfigError("model.vectors: a pretrained transformer brings its own embeddings; remove it")
        return HFEncoder.fit(texts, cfg.model.params["pretrained"], d.max_length, d.truncation)
    return VocabEncoder.fit(texts, cfg.tokenizer, d.max_length, d.truncation)


def build_embeddings(cfg: Config, encoder: VocabEncoder) -> tuple[np.ndarray | None, dict]:
    """Pretrained vectors aligned to the vocabulary (extended first if asked), and coverage numbers."""
    if not cfg.model.vectors:
        if cfg.model.extend_vocab:
            raise ConfigError("model.extend_vocab needs model.vectors: the words come from the vectors file")
        return None, {}
    from fenlei.data.vectors import align_vectors, extend_vocab, load_vectors

    extra = cfg.model.extend_vocab
    vectors = load_vectors(cfg.model.vectors, keep=None if extra else set(encoder.vocab.tokens))
    added = 0
    if extra:
        encoder.vocab, added = extend_vocab(encoder.vocab, vectors, extra, lowercase=encoder.lowercase)
    matrix, oov = align_vectors(encoder.vocab, vectors, seed=cfg.train.seed)
    info = {"vectors": cfg.model.vectors, "vectors_dim": int(matrix.shape[1]), "vocab_oov_rate": oov}
    if extra:
        info["vocab_added_from_vectors"] = added
    return matrix, info


def train(
    cfg: Config, run_dir: str | Path | None = None, *, quiet: bool = False, resume: bool = False
) -> RunResult:
    """Train the configured model, evaluate on dev and test, and write the run directory.

    Under ``torchrun`` every rank calls this; rank 0 writes the run directory.
    """
    device = resolve_device(cfg.train.device)
    if device.type == "cuda" and distributed.launched_world_size() > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    ctx = distributed.init_distributed(device)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        return _train(cfg, run_dir, quiet=quiet, resume=resume, ctx=ctx, device=device)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)  # a library call leaves no global trace
        distributed.shutdown(ctx)


def _train(
    cfg: Config, run_dir: str | Path | None, *, quiet: bool, resume: bool, ctx, device: torch.device
) -> RunResult:
    t_start = time.perf_counter()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if cfg.train.deterministic:
        set_deterministic()
    seed_everything(cfg.train.seed)
    resolve_multi_label(cfg)  # a Config built in Python: multi-label means bce
    if ctx.enabled and not run_dir:
        raise FenleiError("under torchrun give -o RUN_DIR, so that every process names the same run")
    run_dir = Path(run_dir) if run_dir else default_run_dir(cfg)
    if run_dir.exists() and not run_dir.is_dir():
        raise FenleiError(f"{run_dir}: -o names a file, not a folder; choose another -o")
    streamed = use_streaming(cfg.data)
    if streamed:  # train never in memory: an encoded corpus on disk (data/streaming.py)
        _check_model_accepts(cfg)
        barrier = torch.distributed.barrier if ctx.enabled else None
        sd = prepare_streaming(cfg, run_dir, resume=resume, writer=ctx.local_rank == 0, barrier=barrier)
        data = TrainData(sd.splits, [], sd.splits.train_ids)
        encoder, train_b = sd.encoder, sd.batches
    else:
        splits = load_splits(cfg.data)
        _check_model_accepts(cfg)
        data = prepare_train_data(cfg, splits, run_dir, resume)
        encoder, all_tokens = fit_encoder(cfg, data.vocab_texts)
    splits = data.splits
    embeddings, vec_info = build_embeddings(cfg, encoder)
    seed_everything(cfg.train.seed)  # model init must not depend on what loading consumed
    model = create_model(
        cfg.model.name,
        encoder.vocab_size,
        len(splits.labels),
        params=cfg.model.params,
        embed_dim=cfg.model.embed_dim,
        pad_id=encoder.pad_id,
        embeddings=embeddings,
        freeze_embeddings=cfg.model.freeze_embeddings,
        init=cfg.model.init,
    )
    teacher = None
    if cfg.objective.name == "distill":  # the teacher labels every training text once, copies included
        if ctx.is_main and not quiet:
            print(f"distill: {cfg.objective.teacher} labels {len(data.texts):,} training texts")
        teacher = teacher_probabilities(cfg.objective.teacher, data.texts, splits.labels, str(device))
    objective = build_objective(cfg.objective, data.ids, len(splits.labels), uda=cfg.uda, teacher=teacher)
    plain = "bce" if cfg.data.multi_label else "cross_entropy"
    eval_objective = build_objective(type(cfg.objective)(name=plain), splits.train_ids, len(splits.labels))

    if not streamed:
        train_b = Batches(
            encoder.encode(tokens=all_tokens[: len(data.texts)]),
            data.ids,
            cfg.train.batch_size,
            encoder.pad_id,
            shuffle=True,
            seed=cfg.train.seed,
        )
    if data.views:
        train_b = UDABatches(
            train_b,
            encoder.encode(tokens=all_tokens[len(data.texts) :]),
            [encoder.encode(view) for view in data.views],
            cfg.uda.unsup_ratio,
            seed=cfg.train.seed,
        )
    dev_b = Batches(
        encoder.encode(splits.dev.texts),
        splits.dev_ids,
        eval_batch_size(cfg.train, cfg.model.name),
        encoder.pad_id,
    )

    if ctx.enabled:
        train_b = distributed.ShardedBatches(train_b, ctx)
    main = ctx.is_main
    distributed.run_on_main(ctx, lambda: _prepare_run_dir(run_dir, resume))
    try:
        if main:
            save_cache(data, run_dir)
            cfg.save(run_dir / "config.yaml")
            splits.labels.save(run_dir / "labels.json")
            encoder.save(run_dir)
        elif data.cache is not None and data.cache.resolve() != (run_dir / AUGMENT_DIR).resolve():
            shutil.rmtree(data.cache, ignore_errors=True)  # rank 0 keeps the run's copy
        # Every rank stops early on the same (gathered) metrics; only rank 0 logs and prints.
        callbacks: list = [cb.EarlyStopping(cfg.train.patience)]
        if main:
            callbacks.append(cb.History(run_dir / "history.csv"))
        if main and cfg.train.tensorboard:
            callbacks.append(cb.TensorBoard(run_dir / "tb"))
        if main and not quiet:
            if cfg.train.progress:
                callbacks.append(cb.ProgressBar())
            callbacks.append(cb.EpochTable(cfg.train.metric))
            _print_plan(cfg, splits, encoder, model, vec_info, ctx)
        trainer = Trainer(
            model,
            objective,
            train_b,
            dev_b,
            cfg.train,
            cfg.optim,
            label_names=splits.labels.names,
            callbacks=callbacks,
            checkpoint_dir=run_dir / "checkpoints",
            eval_objective=eval_objective,
            multi_label=cfg.data.multi_label,
            dist=ctx,
            device=device,
        )
        t_train = time.perf_counter()
        state = trainer.fit(resume=resume)
        train_seconds = time.perf_counter() - t_train
        trainer.load_best()
        if main:
            state_io.save_tensors(run_dir / "model.safetensors", state_io.model_tensors(trainer.model))
        if main and hasattr(model, "save_pretrained"):  # a Hugging Face folder next to fenlei's own
            from fenlei.data.hf_encoder import HF_DIR

            model.save_pretrained(run_dir / HF_DIR, splits.labels.names)
        metrics = _final_metrics(cfg, trainer, splits, encoder, dev_b, run_dir if main else None)
        metrics["train"] = {
            "best_step": state.best_step,
            "steps": state.step,
            "epochs": state.epoch,
            "stopped_early": state.stopped_early,
            "seconds": train_seconds,
            "total_seconds": time.perf_counter() - t_start,
            "params": sum(p.numel() for p in model.parameters()),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "peak_rss_mb": _peak_rss_mb(),
            "device": str(trainer.device),
            "precision": str(trainer.amp_dtype or torch.float32).removeprefix("torch."),
            "world_size": ctx.world_size,
            "effective_batch_size": cfg.train.batch_size * cfg.train.accumulate * ctx.world_size,
        }
        metrics["data"] = {
            "train": len(splits.train),
            "dev": len(splits.dev),
            "test": len(splits.test) if splits.test is not None else 0,
            "unlabeled": len(data.unlabeled) if data.views else 0,
            **data.notes,
            "labels": splits.labels.names,
            "tokenizer": encoder.kind,
            "vocab_size": encoder.vocab_size,
            "skipped": splits.notes,
            **vec_info,
        }
        if main:
            state_io.write_json(run_dir / "metrics.json", metrics)
    except TrainingInterrupted as err:
        if main:
            (run_dir / "FAILED").write_text(f"{err}; continue with: fenlei train --resume {run_dir}\n")
        raise TrainingInterrupted(f"{err}; continue with: fenlei train --resume {run_dir}") from None
    except BaseException:
        if main:
            (run_dir / "FAILED").write_text("training did not finish; metrics.json was not written\n")
        raise
    if main and cfg.train.report:
        _write_report(run_dir)
    return RunResult(run_dir, metrics, main)


# Keys a resumed run may change: they do not alter what was trained so far.
RESUME_FREE = {
    "train": {
        "epochs",
        "patience",
        "progress",
        "threads",
        "tensorboard",
        "report",
        "checkpoint_every",
        "checkpoint_minutes",
        "device",
        "eval_batch_size",
    },
}


def config_for_resume(run_dir: Path, config: str | Path | None, overrides: list[str]) -> Config:
    """The config a resumed run continues with: its saved config.yaml plus ``overrides``.

    A config file given as well must agree with the saved one except on RESUME_FREE keys.
    """
    from fenlei.config import load_config

    saved_path = Path(run_dir) / "config.yaml"
    if not saved_path.is_file():
        raise FenleiError(
            f"{run_dir}: no config.yaml, so this is not a run to resume; train without --resume"
        )
    saved = load_config(saved_path, overrides)
    if config is None:
        return saved
    given = load_config(config, overrides)
    a, b = saved.to_dict(), given.to_dict()
    changed = [
        f"{section}.{key}"
        for section in a
        for key in a[section]
        if a[section][key] != b.get(section, {}).get(key) and key not in RESUME_FREE.get(section, ())
    ]
    if changed:
        raise FenleiError(
            f"{config} differs from the config {run_dir} was trained with in {', '.join(changed)}; "
            "resume without a config (the saved one is used) or start a new run"
        )
    return given


def set_deterministic() -> None:
    """torch's deterministic algorithms (an error names any op that has none) and the cuBLAS
    workspace setting they need on GPU. Batches are built in this process: no loader workers to seed."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False


def _write_report(run_dir: Path) -> None:
    """report.html for the finished run; the run itself stands even if a plot fails."""
    from fenlei.evaluation.report import write_report

    try:
        write_report(run_dir)
    except Exception as exc:  # the model and metrics are saved; say so and how to retry
        print(
            f"warning: {run_dir}/report.html not written ({type(exc).__name__}: {exc}); "
            f"retry with `fenlei report {run_dir}`",
            file=sys.stderr,
        )


def _final_metrics(
    cfg: Config, trainer: Trainer, splits: Splits, encoder, dev_b, run_dir: Path | None
) -> dict:
    """Dev and test metrics of the best weights; predictions.tsv (and thresholds) into ``run_dir``
    unless it is None (a DDP rank other than 0, which only helps evaluate)."""
    dev_metrics, dev_probs = trainer.evaluate(dev_b)
    thresholds = None
    if cfg.data.multi_label:
        # Decision thresholds are tuned on dev once the best weights are back, then used for the
        # reported dev/test metrics and saved for evaluate/predict.
        thresholds = tune_thresholds(dev_b.labels, dev_probs, cfg.train.threshold)
        if run_dir is not None:
            save_thresholds(run_dir / THRESHOLDS_FILE, splits.labels.names, thresholds, cfg.train.threshold)
        dev_metrics = _rescore(dev_metrics, dev_b.labels, dev_probs, splits, thresholds)
    metrics = {"dev": dev_metrics, "metric": cfg.train.metric}
    if splits.test is None and run_dir is None:
        return metrics
    if splits.test is None:  # the report still gets per-text predictions: dev's
        _write_predictions(
            run_dir / "predictions.tsv",
            splits,
            splits.dev,
            splits.dev_ids,
            dev_probs,
            thresholds,
            cfg.data.label_separator,
        )
        return metrics
    test_b = Batches(
        encoder.encode(splits.test.texts),
        splits.test_ids,
        eval_batch_size(cfg.train, cfg.model.name),
        encoder.pad_id,
    )
    t0 = time.perf_counter()
    test_metrics, probs = trainer.evaluate(test_b)
    seconds = time.perf_counter() - t0
    if thresholds is not None:
        test_metrics = _rescore(test_metrics, test_b.labels, probs, splits, thresholds)
    test_metrics["texts_per_second"] = len(splits.test) / max(seconds, 1e-9)
    metrics["test"] = test_metrics
    if run_dir is None:
        return metrics
    _write_predictions(
        run_dir / "predictions.tsv",
        splits,
        splits.test,
        splits.test_ids,
        probs,
        thresholds,
        cfg.data.label_separator,
    )
    return metrics


def _rescore(metrics: dict, y_true, probs: np.ndarray, splits: Splits, thresholds: np.ndarray) -> dict:
    """Multi-label metrics at the tuned thresholds; the loss does not depend on them and stays."""
    return {**multilabel_metrics(y_true, probs, splits.labels.names, thresholds), "loss": metrics["loss"]}


def _write_predictions(
    path: Path,
    splits: Splits,
    examples,
    gold_ids,
    probs: np.ndarray,
    thresholds: np.ndarray | None = None,
    separator: str = "|",
) -> None:
    """One row per text of ``examples`` (test, or dev when there is no test): gold, prediction, probs."""
    names = splits.labels.names
    if thresholds is not None:  # multi-label: gold and predicted label sets in labels.json order
        lines = ["text\tlabels\tpredicted\t" + "\t".join(f"p_{n}" for n in names)]
        decided = decide(probs, thresholds)
        for text, gold, hot, row in zip(examples.texts, gold_ids, decided, probs, strict=True):
            clean = text.replace("\t", " ").replace("\n", " ")
            gold_txt = separator.join(names[i] for i in np.flatnonzero(gold))
            predicted = separator.join(names[i] for i in np.flatnonzero(hot))
            probs_txt = "\t".join(f"{x:.6f}" for x in row)
            lines.append(f"{clean}\t{gold_txt}\t{predicted}\t{probs_txt}")
        state_io.atomic_write_text(path, "\n".join(lines) + "\n")
        return
    pred = probs.argmax(1)
    lines = ["text\tlabel\tprediction\tconfidence\t" + "\t".join(f"p_{n}" for n in names)]
    for text, gold, p, row in zip(examples.texts, gold_ids, pred, probs, strict=True):
        clean = text.replace("\t", " ").replace("\n", " ")
        probs_txt = "\t".join(f"{x:.6f}" for x in row)
        lines.append(f"{clean}\t{names[gold]}\t{names[p]}\t{row[p]:.6f}\t{probs_txt}")
    state_io.atomic_write_text(path, "\n".join(lines) + "\n")


def _prepare_run_dir(run_dir: Path, resume: bool) -> None:
    if resume:
        if not (run_dir / "checkpoints").is_dir():
            raise FenleiError(f"{run_dir}: no checkpoints to resume from; train without --resume")
        for stale in ("FAILED", "metrics.json"):
            (run_dir / stale).unlink(missing_ok=True)
        return
    if (run_dir / "metrics.json").exists() or (run_dir / "checkpoints").exists():
        raise FenleiError(
            f"{run_dir}: already holds a run; choose another -o, delete it, or pass --resume to continue it"
        )
    if run_dir.exists() and any(run_dir.iterdir()):
        shutil.rmtree(run_dir / "tb", ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "FAILED").unlink(missing_ok=True)


def _check_model_accepts(cfg: Config) -> None:
    from fenlei.models import model_class

    kinds = model_class(cfg.model.name).tokenizer_kinds
    if cfg.tokenizer.kind != "auto" and cfg.tokenizer.kind not in kinds:
        raise ConfigError(
            f"tokenizer.kind: model {cfg.model.name!r} takes {', '.join(kinds)}, not {cfg.tokenizer.kind!r}"
        )


def _peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _print_plan(cfg: Config, splits: Splits, encoder, model, vec_info: dict, ctx=distributed.SINGLE) -> None:
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    params = sum(p.numel() for p in model.parameters())
    skipped = ", ".join(f"{k}={v}" for k, v in splits.notes.items()) or "none"
    console.print(
        f"[bold]{cfg.model.name}[/] on {len(splits.train)} train / {len(splits.dev)} dev / "
        f"{len(splits.test) if splits.test is not None else 0} test texts, {len(splits.labels)} labels; "
        f"tokenizer {encoder.kind}, vocab {encoder.vocab_size}, {params:,} parameters; skipped: {skipped}"
    )
    if vec_info:
        console.print(
            f"vectors {vec_info['vectors']} ({vec_info['vectors_dim']}d): "
            f"{vec_info['vocab_oov_rate']:.1%} of the vocabulary not covered"
        )
    if ctx.enabled:
        t = cfg.train
        console.print(
            f"distributed: {ctx.world_size} processes ({ctx.backend}) x batch {t.batch_size} x accumulate "
            f"{t.accumulate} = {ctx.world_size * t.batch_size * t.accumulate} texts per step; "
            f"lr {t.lr:g} as configured (not scaled with the world size)"
        )


def final_line(metrics: dict, run_dir: Path) -> str:
    """One line with the headline test (or dev) metrics and where the run is."""
    split = "test" if "test" in metrics else "dev"
    m = metrics[split]
    parts = [f"{k} {m[k]:.4f}" for k in ("accuracy", "macro_f1", "mcc", "roc_auc") if m.get(k) is not None]
    return f"{split}: " + "  ".join(parts) + f"  ({metrics['train']['seconds']:.1f}s) -> {run_dir}"
