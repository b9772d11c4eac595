"""The one training loop. Every model and objective trains here; callbacks only observe.

Resumable: the last checkpoint holds model, optimiser, scheduler, RNG states, the step,
the position inside the epoch and the callbacks' state, all as safetensors + JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fenlei.errors import ConfigError
from fenlei.evaluation.metrics import is_better
from fenlei.evaluation.multilabel import probabilities, score
from fenlei.training import state_io
from fenlei.training.callbacks import Callback
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
    ) -> None:
        self.cfg = train_cfg
        self.device = resolve_device(train_cfg.device)
        self.model = model.to(self.device)
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

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = False) -> TrainState:
        """Train until the epochs run out or a callback says stop; returns the final state."""
        if resume:
            self.load_checkpoint()
        self._emit("on_train_begin")
        cfg = self.cfg
        self.model.train()
        while self.state.epoch < cfg.epochs and not self._stop:
            epoch_start = time.perf_counter()
            self.train_batches.set_epoch(self.state.epoch)
            order = self.train_batches.order()
            self._emit("on_epoch_begin", len(order))
            sums: dict[str, float] = {}
            seen = 0
            for bi in range(self.state.batch_in_epoch, len(order)):
                batch = to_device(self.train_batches.batch(order[bi]), self.device)
                # Share of training done, for objectives that anneal (UDA's TSA).
                batch["progress"] = self.state.step / max(self.total_steps, 1)
                with self._autocast():
                    out = self.objective(self.model, batch)
                self.scaler.scale(out["loss"] / cfg.accumulate).backward()
                self.state.batch_in_epoch = bi + 1
                n = int(batch["input_ids"].shape[0])
                seen += n
                parts = _scalars(out)
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v * n
                if (bi + 1) % cfg.accumulate and bi + 1 != len(order):
                    continue
                self._optimizer_step()
                logs = parts | {"lr": self.current_lr(), "batch_size": n}
                self._emit("on_step_end", logs)
                if cfg.eval_every and self.state.step % cfg.eval_every == 0:
                    self._evaluate_and_save()
                if self._stop:
                    break
            if self._stop and self.state.batch_in_epoch < len(order):
                break
            train_means = {k: v / max(seen, 1) for k, v in sums.items()}
            self.state.epoch += 1
            self.state.batch_in_epoch = 0
            if not cfg.eval_every:
                self._evaluate_and_save()
            summary = {
                "epoch": self.state.epoch,
                "train": train_means,
                "dev": self.last_metrics,
                "seconds": time.perf_counter() - epoch_start,
                "best": self.state.best_step == self.state.step,
            }
            self._emit("on_epoch_end", summary)
        self._emit("on_train_end")
        return self.state

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
        with torch.inference_mode(), self._autocast():
            for raw in batches:
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
        if not with_metrics or batches.labels is None:
            return {}, probs
        metrics = score(batches.labels, probs, self.label_names, self.multi_label)
        metrics["loss"] = loss_sum / max(count, 1)
        return metrics, probs

    # ------------------------------------------------------------------ checkpoints
    def save_best(self) -> None:
        """Weights of the best model so far: checkpoints/best.safetensors."""
        if self.checkpoint_dir is None:
            return
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        state_io.save_tensors(self.checkpoint_dir / "best.safetensors", state_io.model_tensors(self.model))

    def load_best(self) -> bool:
        """Put the best weights back into the model; False if none were saved."""
        path = None if self.checkpoint_dir is None else self.checkpoint_dir / "best.safetensors"
        if path is None or not path.is_file():
            return False
        self.model.load_state_dict(state_io.read_tensors(path))
        return True

    def save_checkpoint(self) -> None:
        """Everything needed to resume, in checkpoints/last/ (swapped in atomically)."""
        if self.checkpoint_dir is None:
            return
        final = self.checkpoint_dir / "last"
        tmp = self.checkpoint_dir / "last.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, torch.Tensor] = {}
        optim_meta = state_io.split_state(self.optimizer.state_dict(), "optim", tensors)
        rng_meta, rng_tensors = state_io.rng_state()
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
        meta = json.loads((found / "state.json").read_text(encoding="utf-8"))
        tensors = state_io.read_tensors(found / "state.safetensors")
        self.model.load_state_dict(state_io.read_tensors(found / "model.safetensors"))
        self.optimizer.load_state_dict(state_io.join_state(meta["optimizer"], tensors))
        self.scheduler.load_state_dict(meta["scheduler"])
        if meta.get("scaler"):
            self.scaler.load_state_dict(meta["scaler"])
        self.state = TrainState(**meta["state"])
        self.last_metrics = meta.get("last_metrics", {})
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
