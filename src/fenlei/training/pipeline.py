"""``train(config, run_dir)``: data → encoder → model → the loop → metrics, into one run directory.

Everything a user can get wrong (files, labels, config values) is checked before the run
directory is created, and ``metrics.json`` is written last: a run directory without it
never looks finished.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from fenlei.config import Config, ObjectiveConfig
from fenlei.data.batching import Batches
from fenlei.data.examples import Examples
from fenlei.data.loading import load_splits
from fenlei.data.profile import profile_run
from fenlei.data.semi import UDABatches
from fenlei.errors import FenleiError, TrainingInterrupted
from fenlei.models import create_model, eval_batch_size
from fenlei.objectives import Context, build_objective
from fenlei.resolve import Resolved, resolve
from fenlei.rundir import CHECKPOINTS, HISTORY, TENSORBOARD, RunDir
from fenlei.training import callbacks as cb
from fenlei.training import distributed
from fenlei.training.auto_defaults import fill_auto
from fenlei.training.console import PlanLine, default_run_dir, final_line
from fenlei.training.determinism import deterministic, seed_everything
from fenlei.training.encoding import build_embeddings, fit_encoder
from fenlei.training.final_eval import final_metrics
from fenlei.training.resume import RESUME_FREE, config_for_resume
from fenlei.training.train_data import AUGMENT_DIR, TrainData, prepare_train_data, save_cache
from fenlei.training.trainer import Trainer, resolve_device

__all__ = ["RESUME_FREE", "RunResult", "config_for_resume", "final_line", "seed_everything", "train"]


@dataclass
class RunResult:
    """What ``train`` returns: where the run is and its metrics.json content."""

    run_dir: Path
    metrics: dict
    is_main: bool = True  # False on torchrun ranks other than 0, which wrote nothing


def train(
    cfg: Config,
    run_dir: str | Path | None = None,
    *,
    train: Examples | None = None,
    dev: Examples | None = None,
    test: Examples | None = None,
    callbacks: Sequence[cb.Callback] = (),
    quiet: bool = False,
    resume: bool = False,
) -> RunResult:
    """Train the configured model, evaluate on dev and test, and write the run directory.

    ``train``/``dev``/``test``: in-memory examples instead of the files ``cfg.data`` names.
    ``callbacks`` observe the loop besides fenlei's own. Under ``torchrun`` every rank calls
    this; rank 0 writes the run directory.
    """
    device = resolve_device(cfg.train.device)
    if device.type == "cuda" and distributed.launched_world_size() > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    ctx = distributed.init_distributed(device)
    given = None if train is None else {"train": train, "dev": dev, "test": test}
    threads = torch.get_num_threads()
    try:
        with deterministic(cfg.train.deterministic, device):
            if cfg.train.threads:
                torch.set_num_threads(cfg.train.threads)
            return _train(cfg, run_dir, given, callbacks, quiet=quiet, resume=resume, ctx=ctx, device=device)
    finally:
        torch.set_num_threads(threads)  # a library call leaves no global trace
        distributed.shutdown(ctx)


def _train(cfg, run_dir, given, user_callbacks, *, quiet: bool, resume: bool, ctx, device) -> RunResult:
    t_start = time.perf_counter()
    seed_everything(cfg.train.seed)
    r = resolve(cfg, in_memory=given is not None)
    task = r.task
    if ctx.enabled and not run_dir:
        raise FenleiError("under torchrun give -o RUN_DIR, so that every process names the same run")
    rd = RunDir(run_dir if run_dir else default_run_dir(cfg))
    if rd.path.exists() and not rd.path.is_dir():
        raise FenleiError(f"{rd.path}: -o names a file, not a folder; choose another -o")
    data, encoder, train_b, all_tokens = _data(r, rd, given, resume, ctx)
    splits = data.splits
    embeddings, vec_info = build_embeddings(cfg, encoder)
    n_train = len(data.texts)  # what is batched: train after the dev split, with augmented copies
    # the train texts' ids, once: the auto settings count their n-grams, the batches hold them
    train_seqs = encoder.encode(tokens=all_tokens[:n_train]) if all_tokens is not None else None
    chosen = fill_auto(
        cfg, r.model_class, n_train, train_seqs, encoder.vocab_size, batched=train_b is not None
    )
    data.notes.update({f"{k}_auto": v for k, v in chosen.items()})  # metrics.json says what auto chose
    seed_everything(cfg.train.seed)  # model init must not depend on what loading consumed
    model_args = {
        "vocab_size": encoder.vocab_size,
        "num_classes": len(splits.labels),
        "params": cfg.model.params,
        "embed_dim": cfg.model.embed_dim,
        "pad_id": encoder.pad_id,
        "embeddings": embeddings,
        "freeze_embeddings": cfg.model.freeze_embeddings,
        "init": cfg.model.init,
    }
    model = create_model(cfg.model.name, **model_args)
    main = ctx.is_main
    say = print if main and not quiet else (lambda _line: None)
    octx = Context(task, splits.labels, data.ids, None if r.streamed else data.texts, str(device), say)
    objective = build_objective(cfg.objective, octx, r.objective_params)
    # Dev loss is the task's plain loss, even when training adds noise or consistency terms.
    eval_objective = build_objective(ObjectiveConfig(name=task.default_objective), octx)
    if train_b is None:
        train_b = Batches(
            train_seqs,
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
            data.view_ratio,
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
    distributed.run_on_main(ctx, lambda: rd.prepare(resume))
    try:
        if main:
            save_cache(data, rd.path)
            rd.save_config(cfg)
            rd.save_labels(splits.labels)
            encoder.save(rd.path)
            profile_run(rd, splits, encoder, all_tokens, quiet=quiet)  # profile.json; warnings on stderr
        elif data.cache is not None and data.cache.resolve() != (rd / AUGMENT_DIR).resolve():
            shutil.rmtree(data.cache, ignore_errors=True)  # rank 0 keeps the run's copy
        plan = PlanLine(cfg, splits, encoder, vec_info, ctx, "max_length_auto" in data.notes, chosen)
        callbacks = _callbacks(cfg, rd, main, quiet, plan, loop=not model.fits_itself)
        trainer = Trainer(
            model,
            objective,
            train_b,
            dev_b,
            cfg.train,
            cfg.optim,
            label_names=splits.labels.names,
            callbacks=[*callbacks, *user_callbacks],
            checkpoint_dir=rd / CHECKPOINTS,
            eval_objective=eval_objective,
            task=task,
            dist=ctx,
            device=device,
        )
        t_train = time.perf_counter()
        if model.fits_itself:  # fitted by the family itself (tfidf, fasttext's sgd), not by the loop
            fit = lambda report: model.fit(  # noqa: E731
                encoder, data.texts, data.ids, splits.dev.texts, splits.dev_ids, task, cfg.train.metric,
                cfg.train, report, train_seqs=train_b.seqs,
            )  # fmt: skip
            fit_notes, state = trainer.fit_closed_form(fit), trainer.state
        else:
            fit_notes, state = None, trainer.fit(resume=resume)
        train_seconds = time.perf_counter() - t_train
        trainer.load_best()
        refit_notes: dict = {}
        refit = None
        if cfg.train.refit:  # resolve allowed it: the family fits itself and ignores dev
            refit = _refitter(
                cfg, model, model_args, encoder, task, data, splits, train_b, dev_b, refit_notes
            )
        metrics = final_metrics(cfg, task, trainer, splits, encoder, dev_b, rd if main else None, refit)
        if main:
            from fenlei import state_io

            rd.save_model(state_io.model_tensors(trainer.model))
            model.save_run_files(rd.path, splits.labels.names)
        metrics["train"] = {
            "best_step": state.best_step,
            "steps": state.step,
            "epochs": state.epoch,
            "stopped_early": state.stopped_early,
            "seconds": train_seconds + refit_notes.get("seconds", 0.0),  # the refit is training too
            "total_seconds": time.perf_counter() - t_start,
            "params": sum(p.numel() for p in model.parameters()),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "peak_rss_mb": _peak_rss_mb(),
            "device": str(trainer.device),
            "precision": str(trainer.amp_dtype or torch.float32).removeprefix("torch."),
            "world_size": ctx.world_size,
            "effective_batch_size": cfg.train.batch_size * cfg.train.accumulate * ctx.world_size,
        }
        if fit_notes is not None:
            metrics["train"]["closed_form"] = fit_notes
        if refit_notes:  # test and the saved model are the refit's; dev is the first fit's
            metrics["train"]["refit"] = refit_notes
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
            rd.finish(metrics)
    except TrainingInterrupted as err:
        if main:
            rd.mark_failed(f"{err}; continue with: fenlei train --resume {rd}")
        raise TrainingInterrupted(f"{err}; continue with: fenlei train --resume {rd}") from None
    except BaseException:
        if main:
            rd.mark_failed("training did not finish; metrics.json was not written")
        raise
    if main and cfg.train.report:
        _write_report(rd.path)
    return RunResult(rd.path, metrics, main)


def _refitter(cfg, model, model_args: dict, encoder, task, data, splits, train_b, dev_b, notes: dict):
    """train.refit: a call that fits ``model`` afresh (its first init) on train + dev, for
    final_metrics to make once dev is scored; its texts and seconds go into ``notes``."""

    def refit() -> None:
        t0 = time.perf_counter()
        seed_everything(cfg.train.seed)  # the same start as the first fit
        model.load_state_dict(create_model(cfg.model.name, **model_args).state_dict())
        seqs, ids = [*train_b.seqs, *dev_b.seqs], [*data.ids, *splits.dev_ids]
        model.fit(
            encoder, [*data.texts, *splits.dev.texts], ids, [], [], task, cfg.train.metric,
            cfg.train, None, train_seqs=seqs,
        )  # fmt: skip
        notes.update(texts=len(seqs), seconds=time.perf_counter() - t0)

    return refit


def _data(r: Resolved, rd: RunDir, given, resume: bool, ctx):
    """(TrainData, fitted encoder, train batches or None, train tokens) from files, memory or a
    streamed corpus on disk."""
    cfg = r.cfg
    if r.streamed:  # train never in memory: an encoded corpus on disk (data/streaming.py)
        from fenlei.data.streaming import prepare_streaming

        barrier = torch.distributed.barrier if ctx.enabled else None
        sd = prepare_streaming(cfg, rd.path, resume=resume, writer=ctx.local_rank == 0, barrier=barrier)
        return TrainData(sd.splits, [], sd.splits.train_ids), sd.encoder, sd.batches, None
    splits = load_splits(cfg.data, r.task, given)
    views = r.objective_params.unlabeled_views() if r.objective.needs.unlabeled else None
    data = prepare_train_data(cfg, splits, rd.path, resume, views)
    auto = cfg.data.max_length == "auto"
    texts = data.vocab_texts
    if cfg.train.refit:  # the refit learns from dev too, so the vocabulary knows dev's words
        texts = [*texts, *splits.dev.texts]
    encoder, all_tokens = fit_encoder(cfg, r.model_class, texts)
    all_tokens = all_tokens[: len(data.vocab_texts)]
    if auto and encoder.max_length:  # said in the plan line and in metrics.json
        data.notes["max_length_auto"] = int(encoder.max_length)
    return data, encoder, None, all_tokens


def _callbacks(
    cfg: Config, rd: RunDir, main: bool, quiet: bool, plan: cb.Callback, loop: bool = True
) -> list[cb.Callback]:
    """fenlei's own observers. Every rank stops early on the same (gathered) metrics; only rank 0
    logs and prints. Without a ``loop`` (a closed-form fit) there are no epochs to show."""
    out: list[cb.Callback] = [cb.EarlyStopping(cfg.train.patience)]
    if main:
        out.append(cb.History(rd / HISTORY))
    if main and cfg.train.tensorboard:
        out.append(cb.TensorBoard(rd / TENSORBOARD))
    if main and not quiet:
        out.append(plan)
        if cfg.train.progress and loop:
            out.append(cb.ProgressBar())
        if loop:
            out.append(cb.EpochTable(cfg.train.metric))
    return out


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


def _peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024
