"""The one training loop. Every model and objective trains here; callbacks only observe.

Resumable: the Checkpointer (checkpoints.py) saves a resume point every ``train.checkpoint_every``
steps, every ``train.checkpoint_minutes``, when training ends and when SIGINT/SIGTERM asks the run
to stop. Under torchrun the same loop runs data-parallel (distributed.py).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from fenlei.data.batching import batch_texts
from fenlei.errors import TrainingInterrupted
from fenlei.evaluation.metrics import is_better
from fenlei.task import SingleLabel, Task
from fenlei.training.callbacks import Callback
from fenlei.training.checkpoints import Checkpointer, TrainState
from fenlei.training.device import resolve_device, resolve_precision, to_device
from fenlei.training.distributed import SINGLE, DistContext, any_rank, sum_arrays
from fenlei.training.ema import WeightEMA
from fenlei.training.optim import build_optimizer, build_scheduler
from fenlei.training.signals import StopOnSignals

__all__ = ["TrainState", "Trainer", "resolve_device", "resolve_precision", "to_device"]


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
        task: Task | None = None,
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
        self.task = task or SingleLabel()  # how logits become probabilities and metrics
        self.train_batches = train_batches
        self.dev_batches = dev_batches
        self.label_names = list(label_names)
        self.callbacks = list(callbacks)
        self.checkpoint_dir = checkpoint_dir
        self.checkpointer = Checkpointer(
            checkpoint_dir, train_cfg.checkpoint_every, train_cfg.checkpoint_minutes, dist
        )
        self.metric = train_cfg.metric or self.task.default_metric
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
        self._signals = StopOnSignals()
        self._interrupted = False

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = False) -> TrainState:
        """Train until the epochs run out or a callback says stop; returns the final state."""
        if resume:
            self.load_checkpoint()
        self._emit("on_train_begin")
        self._interrupted = False
        try:
            with self._signals:
                self._loop()
        finally:  # also after a signal or an error: best weights written, progress bars closed
            if self.dist.is_main:
                self.checkpointer.flush_best()
            self._emit("on_train_end")
        if self._interrupted:
            s = self.state
            where = f"step {s.step} (epoch {s.epoch + 1}, batch {s.batch_in_epoch})"
            last = self.checkpointer.last_dir
            saved = "" if last is None else f"; checkpoint saved in {last}"
            raise TrainingInterrupted(f"stopped by {self._signals.name or 'a signal'} at {where}{saved}")
        return self.state

    def fit_closed_form(self, fit: Callable[[Callable], dict]) -> dict:
        """A family that trains itself (``TextModel.fits_itself``): ``fit(report)`` replaces the
        loop; the callbacks see the run begin and end, and each ``report``ed epoch. Returns what
        ``fit`` reports."""
        self._emit("on_train_begin")
        try:
            notes = fit(self._solver_epoch)
            self.model.to(self.device)
        finally:
            self._emit("on_train_end")
        return notes

    def _solver_epoch(self, epoch: int, step: int, loss: float, evaluate: bool) -> None:
        """A family's own solver finished ``epoch``: its train loss (and, when ``evaluate``, the dev
        metrics) go to the callbacks, so history.csv and the report's learning curves have them.
        The solver keeps its last weights: nothing is saved or stopped here."""
        self.state.epoch, self.state.step = epoch + 1, step
        # a solver's steps are its own (texts, for fasttext's sgd): history's epoch column divides by these
        self.steps_per_epoch = step // (epoch + 1)
        self._emit("on_step_end", {"loss": loss})
        if evaluate:
            metrics, _ = self.evaluate(self.dev_batches)
            self.last_metrics = metrics
            self._emit("on_evaluate", metrics, False)

    def _loop(self) -> None:
        cfg, state = self.cfg, self.state
        self.model.train()
        self.checkpointer.last_save = time.monotonic()
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
                n = batch_texts(batch)
                state.epoch_seen += n
                parts = _scalars(out)
                for k, v in parts.items():
                    state.epoch_sums[k] = state.epoch_sums.get(k, 0.0) + v * n
                if not last_micro:
                    continue
                self._optimizer_step()
                logs = parts | {"lr": self.current_lr(), "batch_size": n}
                if "stop" in self._emit("on_step_end", logs):  # a time budget (tune) ran out
                    self._stop = True
                saved = False
                if cfg.eval_every and state.step % cfg.eval_every == 0:
                    saved = self._evaluate_and_save(state.step >= self.total_steps)
                self._checkpoint_or_stop(saved, bi + 1 == len(order))
                if self._stop:
                    break
            if self._stop and state.batch_in_epoch < len(order):
                break
            train_means = {k: v / max(state.epoch_seen, 1) for k, v in state.epoch_sums.items()}
            state.epoch += 1
            state.batch_in_epoch = 0
            state.epoch_sums, state.epoch_seen = {}, 0
            if not cfg.eval_every:
                self._evaluate_and_save(state.epoch >= cfg.epochs)
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
        due = self.checkpointer.due(self.state.step)
        # Ranks must agree (saving gathers RNG states); one all-reduce carries both flags.
        signalled, due = any_rank(self.dist, self._signals.name is not None, due)
        if (due or signalled) and not just_saved and not (epoch_end and not self.cfg.eval_every):
            self.save_checkpoint()
        if signalled:
            self._stop = True
            self._interrupted = True

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

    def _evaluate_and_save(self, last: bool) -> bool:
        """Evaluate on dev, keep the best weights, and write a resume point when one is due or
        training ends here (``last``, or a callback stopped it); True when one was written."""
        with self._averaged():
            self._evaluate_and_save_best()
        due = any_rank(self.dist, last or self._stop or self.checkpointer.due(self.state.step))[0]
        if due:
            self.save_checkpoint()
        return due

    def _averaged(self):
        """The averaged weights in the model (train.ema), else nothing changes."""
        return self.ema.applied(self.model) if self.ema is not None else contextlib.nullcontext()

    def _evaluate_and_save_best(self) -> None:
        metrics, _ = self.evaluate(self.dev_batches)
        self.last_metrics = metrics
        value = metrics.get(self.metric)
        improved = value is not None and (
            self.state.best_metric is None
            or is_better(self.metric, value, self.state.best_metric, self.cfg.min_delta)
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
                probs[raw["index"].numpy()] = self.task.probabilities(logits).cpu().numpy()
        self.model.train(was_training)
        if self.dist.enabled:
            probs, totals = sum_arrays(self.dist, probs, np.array([loss_sum, count], dtype=np.float64))
            loss_sum, count = float(totals[0]), int(totals[1])
        if not with_metrics or batches.labels is None:
            return {}, probs
        metrics = self.task.score(batches.labels, probs, self.label_names)
        metrics["loss"] = loss_sum / max(count, 1)
        return metrics, probs

    # ------------------------------------------------------------------ checkpoints
    def save_best(self) -> None:
        """Weights of the best model so far: checkpoints/best.safetensors (written by rank 0)."""
        self.checkpointer.save_best(self.model)

    def load_best(self) -> bool:
        """Put the best weights back into the model; False if none were saved."""
        return self.checkpointer.load_best(self.model)

    def save_checkpoint(self) -> None:
        """Everything needed to resume, in checkpoints/last/ (every rank calls under DDP)."""
        self.checkpointer.save(self)

    def load_checkpoint(self) -> bool:
        """Restore from checkpoints/last; False when there is none."""
        return self.checkpointer.load(self)

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
