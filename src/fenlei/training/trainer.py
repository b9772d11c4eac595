"""The one training loop. Every model and objective trains here; callbacks only observe.

Resumable: the last checkpoint holds model, optimiser, scheduler, RNG states, the step,
the position inside the epoch and the callbacks' state, all as safetensors + JSON. It is
written at each evaluation, every ``train.checkpoint_every`` steps, every
``train.checkpoint_minutes`` and when SIGINT/SIGTERM asks the run to stop. Under torchrun the
same loop runs data-parallel (training/distributed.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fenlei import state_io
from fenlei.errors import ConfigError, RunDirError, TrainingInterrupted
from fenlei.evaluation.metrics import is_better
from fenlei.evaluation.multilabel import probabilities, score
from fenlei.training.callbacks import Callback
from fenlei.training.distributed import (
    SINGLE,
    DistContext,
    any_rank,
    broadcast_module,
    gather_tensors,
    sum_arrays,
)
from fenlei.training.ema import WeightEMA
from fenlei.training.optim import build_optimizer, build_scheduler


@dataclass
class TrainState:
    """Where the loop is; saved in every checkpoint."""

    step: int = 0  # optimiser steps done
    epoch: int = 0  # epoch in progress (0-based)
    batch_in_epoch: int = 0  # batches of that epoch already consumed
    best_metric: float | None = None  # best dev value of the chosen metric so far
    best_step: int = 0  # step at which it was reached
    stopped_early: bool = False
    epoch_sums: dict = dataclasses.field(default_factory=dict)  # this epoch's loss parts x texts so far
    epoch_seen: int = 0  # texts of this epoch trained on so far


def resolve_device(name: str) -> torch.device:
    """'auto' means the first GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_precision(
    name: str, device: torch.device, model: torch.nn.Module | None = None
) -> torch.dtype | None:
    """The autocast dtype for ``train.precision`` on ``device``; None = plain fp32.

    ``auto`` on a CPU means bf16 only for models that ask for it (transformers) and only where
    the CPU computes bf16 natively; elsewhere bf16 would be emulated and slower.
    """
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if getattr(model, "cpu_bf16", False) and _cpu_has_bf16():
            return torch.bfloat16
        return None
    if name == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision: fp16 needs a GPU; on CPU use bf16 or fp32")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def _cpu_has_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def to_device(batch: dict, device: torch.device) -> dict:
    """Move the tensors of a batch (and of its sub-batches) to ``device``; lengths stay on the CPU."""
    if device.type == "cpu":
        return batch
    out = {}
    for k, v in batch.items():
        if isinstance(v, dict):
            v = to_device(v, device)
        elif isinstance(v, torch.Tensor) and k != "lengths":
            v = v.to(device, non_blocking=True)
        out[k] = v
    return out


class Trainer:
    """Runs ``objective(model, batch)`` over the training batches with the configured optimiser."""

    def __init__(
        self,
        model: torch.nn.Module,
        objective: Callable[[torch.nn.Module, dict], dict],
        train_batches,
        dev_batches,
        train_cfg,
        optim_cfg,
        *,
        label_names: Sequence[str],
        callbacks: Sequence[Callback] = (),
        checkpoint_dir: Path | None = None,
        eval_objective: Callable[[torch.nn.Module, dict], dict] | None = None,
        multi_label: bool = False,
        dist: DistContext = SINGLE,
        device: torch.device | None = None,
    ) -> None:
        self.cfg = train_cfg
        self.dist = dist
        self.device = device or resolve_device(train_cfg.device)
        self.model = model.to(self.device)
        # The objective calls the DDP wrapper (gradients are averaged over ranks); evaluation and
        # checkpoints use the bare model.
        self.train_model = self.model
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            # Some families leave parameters out of a step (e.g. a pooler no head reads).
            unused = getattr(self.model, "ddp_find_unused", True)
            self.train_model = DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=unused
            )
        self.objective = objective
        # Dev loss is plain CE even when training adds noise/consistency terms.
        self.eval_objective = eval_objective or objective
        self.multi_label = multi_label  # sigmoid per label + multi-label metrics (evaluation/multilabel.py)
        self.train_batches = train_batches
        self.dev_batches = dev_batches
        self.label_names = list(label_names)
        self.callbacks = list(callbacks)
        self.checkpoint_dir = checkpoint_dir
        self.steps_per_epoch = math.ceil(len(train_batches) / train_cfg.accumulate)
        self.total_steps = self.steps_per_epoch * train_cfg.epochs
        self.amp_dtype = resolve_precision(train_cfg.precision, self.device, model)
        # Loss scaling only matters for fp16, whose range underflows small gradients.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.optimizer = build_optimizer(self.model, optim_cfg, train_cfg.lr)
        self.scheduler = build_scheduler(self.optimizer, optim_cfg, self.total_steps)
        self.ema = WeightEMA(self.model, train_cfg.ema) if getattr(train_cfg, "ema", 0.0) else None
        self.state = TrainState()
        self.last_metrics: dict = {}
        self._stop = False
        self._signal: str | None = None  # name of the signal that asked the run to stop
        self._last_save = time.monotonic()

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = False) -> TrainState:
        """Train until the epochs run out or a callback says stop; returns the final state."""
        if resume:
            self.load_checkpoint()
        self._emit("on_train_begin")
        try:
            with self._stop_on_signals():
                self._loop()
        finally:  # also after a signal or an error: progress bars and event files are closed
            self._emit("on_train_end")
        return self.state

    def _loop(self) -> None:
        cfg, state = self.cfg, self.state
        self.model.train()
        self._last_save = time.monotonic()
        while state.epoch < cfg.epochs and not self._stop:
            epoch_start = time.perf_counter()
            self.train_batches.set_epoch(state.epoch)
            order = self.train_batches.order()
            self._emit("on_epoch_begin", len(order))
            for bi in range(state.batch_in_epoch, len(order)):
                batch = to_device(self.train_batches.batch(order[bi]), self.device)
                # Share of training done, for objectives that anneal (UDA's TSA).
                batch["progress"] = state.step / max(self.total_steps, 1)
                last_micro = not (bi + 1) % cfg.accumulate or bi + 1 == len(order)
                with self._autocast(), self._grad_sync(last_micro):
                    out = self.objective(self.train_model, batch)
                    self.scaler.scale(out["loss"] / cfg.accumulate).backward()
                state.batch_in_epoch = bi + 1
                n = int(batch["input_ids"].shape[0])
                state.epoch_seen += n
                parts = _scalars(out)
                for k, v in parts.items():
                    state.epoch_sums[k] = state.epoch_sums.get(k, 0.0) + v * n
                if not last_micro:
                    continue
                self._optimizer_step()
                logs = parts | {"lr": self.current_lr(), "batch_size": n}
                self._emit("on_step_end", logs)
                evaluated = bool(cfg.eval_every and state.step % cfg.eval_every == 0)
                if evaluated:
                    self._evaluate_and_save()
                self._checkpoint_or_stop(evaluated, bi + 1 == len(order))
                if self._stop:
                    break
            if self._stop and state.batch_in_epoch < len(order):
                break
            train_means = {k: v / max(state.epoch_seen, 1) for k, v in state.epoch_sums.items()}
            state.epoch += 1
            state.batch_in_epoch = 0
            state.epoch_sums, state.epoch_seen = {}, 0
            if not cfg.eval_every:
                self._evaluate_and_save()
            summary = {
                "epoch": state.epoch,
                "train": train_means,
                "dev": self.last_metrics,
                "seconds": time.perf_counter() - epoch_start,
                "best": state.best_step == state.step,
            }
            self._emit("on_epoch_end", summary)

    def _grad_sync(self, sync: bool):
        """DDP averages gradients only on the last micro-batch of an accumulated step."""
        if self.train_model is self.model or sync:
            return contextlib.nullcontext()
        return self.train_model.no_sync()

    def _checkpoint_or_stop(self, just_saved: bool, epoch_end: bool) -> None:
        """Save a resume point when one is due; after SIGINT/SIGTERM save one and stop the run."""
        cfg = self.cfg
        due = bool(cfg.checkpoint_every and self.state.step % cfg.checkpoint_every == 0)
        minutes = cfg.checkpoint_minutes
        due = due or bool(minutes and time.monotonic() - self._last_save >= 60 * minutes)
        # Ranks must agree (saving gathers RNG states); one all-reduce carries both flags.
        signalled, due = any_rank(self.dist, self._signal is not None, due)
        if (due or signalled) and not just_saved and not (epoch_end and not cfg.eval_every):
            self.save_checkpoint()
        if signalled:
            self._stop = True
            self._interrupted = True

    @contextlib.contextmanager
    def _stop_on_signals(self):
        """SIGINT/SIGTERM finish the current step, save a checkpoint and end the run; a second
        SIGINT stops at once. Handlers can only be set from the main thread."""
        self._interrupted = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum, frame):
            self._signal = signal.Signals(signum).name
            for sig, old in previous.items():
                signal.signal(sig, old)

        for sig in previous:
            signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
        if self._interrupted:
            where = (
                f"step {self.state.step} (epoch {self.state.epoch + 1}, batch {self.state.batch_in_epoch})"
            )
            saved = (
                "" if self.checkpoint_dir is None else f"; checkpoint saved in {self.checkpoint_dir / 'last'}"
            )
            raise TrainingInterrupted(f"stopped by {self._signal or 'a signal'} at {where}{saved}")

    def _optimizer_step(self) -> None:
        if self.cfg.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        if self.ema is not None:
            self.ema.update(self.model)

    def current_lr(self) -> float:
        """The scheduled rate of the base learning rate (groups with multipliers scale from it)."""
        group = self.optimizer.param_groups[0]
        return self.scheduler.get_last_lr()[0] / group["initial_lr"] * self.cfg.lr

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def _evaluate_and_save(self) -> None:
        with self._averaged():
            self._evaluate_and_save_best()
        self.save_checkpoint()

    def _averaged(self):
        """The averaged weights in the model (train.ema), else nothing changes."""
        return self.ema.applied(self.model) if self.ema is not None else contextlib.nullcontext()

    def _evaluate_and_save_best(self) -> None:
        metrics, _ = self.evaluate(self.dev_batches)
        self.last_metrics = metrics
        value = metrics.get(self.cfg.metric)
        improved = value is not None and (
            self.state.best_metric is None
            or is_better(self.cfg.metric, value, self.state.best_metric, self.cfg.min_delta)
        )
        if improved:
            self.state.best_metric = float(value)
            self.state.best_step = self.state.step
            self.save_best()
        for result in self._emit("on_evaluate", metrics, improved):
            if result == "stop":
                self._stop = True
                self.state.stopped_early = True

    # ------------------------------------------------------------------ evaluation
    def predict_proba(self, batches) -> np.ndarray:
        """Class probabilities [N, C] in the original example order."""
        return self.evaluate(batches, with_metrics=False)[1]

    def evaluate(self, batches, with_metrics: bool = True) -> tuple[dict, np.ndarray]:
        """Loss and metrics over labelled ``batches``, plus the probabilities [N, C]."""
        was_training = self.model.training
        self.model.eval()
        n = len(batches.seqs)
        probs = np.zeros((n, len(self.label_names)), dtype=np.float32)
        loss_sum, count = 0.0, 0
        # Under DDP each rank scores every world-th batch; the sums below join the shares.
        mine = batches.order()[self.dist.rank :: self.dist.world_size]
        with torch.inference_mode(), self._autocast():
            for indices in mine:
                raw = batches.batch(indices)
                batch = to_device(raw, self.device)
                if "labels" in batch and with_metrics:
                    out = self.eval_objective(self.model, batch)
                    loss_sum += float(out["loss"]) * len(raw["index"])
                    count += len(raw["index"])
                    logits = out["logits"]
                else:
                    logits = self.model(batch)
                probs[raw["index"].numpy()] = probabilities(logits, self.multi_label).cpu().numpy()
        self.model.train(was_training)
        if self.dist.enabled:
            probs, totals = sum_arrays(self.dist, probs, np.array([loss_sum, count], dtype=np.float64))
            loss_sum, count = float(totals[0]), int(totals[1])
        if not with_metrics or batches.labels is None:
            return {}, probs
        metrics = score(batches.labels, probs, self.label_names, self.multi_label)
        metrics["loss"] = loss_sum / max(count, 1)
        return metrics, probs

    # ------------------------------------------------------------------ checkpoints
    def save_best(self) -> None:
        """Weights of the best model so far: checkpoints/best.safetensors (written by rank 0)."""
        if self.checkpoint_dir is None or not self.dist.is_main:
            return
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        state_io.save_tensors(self.checkpoint_dir / "best.safetensors", state_io.model_tensors(self.model))

    def load_best(self) -> bool:
        """Put the best weights back into the model; False if none were saved.

        Under DDP rank 0 reads them and sends them to the other ranks (no shared disk needed).
        """
        path = None if self.checkpoint_dir is None else self.checkpoint_dir / "best.safetensors"
        found = any_rank(self.dist, self.dist.is_main and path is not None and path.is_file())[0]
        if not found:
            return False
        if self.dist.is_main:
            self.model.load_state_dict(state_io.read_tensors(path))
        broadcast_module(self.dist, self.model)
        return True

    def save_checkpoint(self) -> None:
        """Everything needed to resume, in checkpoints/last/ (swapped in atomically).

        Under DDP every rank calls this (their RNG states are gathered); rank 0 writes.
        """
        self._last_save = time.monotonic()
        if self.checkpoint_dir is None:
            return
        rng_meta, rng_tensors = state_io.rng_state()
        if self.dist.enabled:  # each rank's dropout stream, so a resumed DDP run repeats it
            for rank, part in enumerate(gather_tensors(self.dist, rng_tensors["rng.torch"])):
                rng_tensors[f"rng.torch.rank{rank}"] = part
        if not self.dist.is_main:
            return
        final = self.checkpoint_dir / "last"
        tmp = self.checkpoint_dir / "last.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, torch.Tensor] = {}
        optim_meta = state_io.split_state(self.optimizer.state_dict(), "optim", tensors)
        rng_meta["world_size"] = self.dist.world_size
        tensors.update(rng_tensors)
        if self.ema is not None:
            tensors.update(self.ema.tensors())
        meta = {
            "state": dataclasses.asdict(self.state),
            "optimizer": optim_meta,
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_meta,
            "last_metrics": self.last_metrics,
            "callbacks": {type(cb).__name__: cb.state_dict() for cb in self.callbacks},
            "ema_updates": None if self.ema is None else self.ema.updates,
        }
        state_io.save_tensors(tmp / "model.safetensors", state_io.model_tensors(self.model))
        state_io.save_tensors(tmp / "state.safetensors", tensors)
        state_io.write_json(tmp / "state.json", meta)
        state_io.replace_dir(tmp, final)

    def load_checkpoint(self) -> bool:
        """Restore from checkpoints/last; False when there is none."""
        found = None if self.checkpoint_dir is None else state_io.existing_dir(self.checkpoint_dir / "last")
        if found is None:
            return False
        try:
            meta = json.loads((found / "state.json").read_text(encoding="utf-8"))
            tensors = state_io.read_tensors(found / "state.safetensors")
            self.model.load_state_dict(state_io.read_tensors(found / "model.safetensors"))
        except Exception as err:  # safetensors, JSON and shape errors alike: the files are damaged
            raise RunDirError(
                f"{found}: the checkpoint cannot be read ({type(err).__name__}: {err}); delete that "
                "folder to resume from an older copy if one is left (last.old), or train again"
            ) from None
        self.optimizer.load_state_dict(state_io.join_state(meta["optimizer"], tensors))
        self.scheduler.load_state_dict(meta["scheduler"])
        if meta.get("scaler"):
            self.scaler.load_state_dict(meta["scaler"])
        self.state = TrainState(**meta["state"])
        self.last_metrics = meta.get("last_metrics", {})
        own = tensors.get(f"rng.torch.rank{self.dist.rank}")
        if own is not None and meta["rng"].get("world_size") == self.dist.world_size:
            tensors["rng.torch"] = own
        state_io.set_rng_state(meta["rng"], tensors)
        if self.ema is not None and meta.get("ema_updates") is not None:
            self.ema.load(tensors, meta["ema_updates"])
        for cb in self.callbacks:
            cb.load_state_dict(meta.get("callbacks", {}).get(type(cb).__name__, {}))
        return True

    # ------------------------------------------------------------------ callbacks
    def _emit(self, hook: str, *args) -> list:
        return [getattr(cb, hook)(self, *args) for cb in self.callbacks]


def _scalars(out: dict) -> dict[str, float]:
    """The loggable scalar parts of an objective's output (everything but logits)."""
    parts = {}
    for key, value in out.items():
        if key == "logits":
            continue
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            parts[key] = float(value.detach())
        elif isinstance(value, (int, float)):
            parts[key] = float(value)
    return parts
