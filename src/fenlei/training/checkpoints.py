"""Checkpoints of a run: the best weights so far and the resume point (timm's CheckpointSaver shape).

``checkpoints/best.safetensors`` holds the best weights by the dev metric; ``checkpoints/last/``
holds everything needed to resume (model, optimiser, scheduler, scaler, RNG states, the step,
the position inside the epoch, the callbacks' and the weight average's state) as safetensors
+ JSON, written to ``last.tmp`` and swapped in, so a kill at any point leaves one readable copy.
A resume point is due every ``train.checkpoint_every`` steps and every ``train.checkpoint_minutes``
(checked at each step and evaluation), and is always written when training ends or is stopped by a
signal. The best weights are kept in memory when they improve and written with each resume point
and at the end, so a run of short epochs does not rewrite its tables once per epoch. Under DDP
every rank takes part (RNG states are gathered, the best weights broadcast) and rank 0 writes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from fenlei import state_io
from fenlei.errors import RunDirError
from fenlei.rundir import BEST, LAST, MODEL, STATE, STATE_TENSORS
from fenlei.training.distributed import SINGLE, DistContext, any_rank, broadcast_module, gather_tensors

if TYPE_CHECKING:
    from fenlei.training.trainer import Trainer


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


class Checkpointer:
    """Saves and restores a Trainer's best weights and resume point in ``folder`` (None: nowhere)."""

    def __init__(
        self,
        folder: Path | None,
        every_steps: int = 0,
        every_minutes: float = 0.0,
        dist: DistContext = SINGLE,
    ) -> None:
        self.folder = None if folder is None else Path(folder)
        self.every_steps = every_steps
        self.every_minutes = every_minutes
        self.dist = dist
        self.last_save = time.monotonic()
        self._best: dict[str, torch.Tensor] | None = None  # best weights not yet on disk

    @property
    def last_dir(self) -> Path | None:
        """Where the resume point lives."""
        return None if self.folder is None else self.folder / LAST

    # ------------------------------------------------------------------ policy
    def due(self, step: int) -> bool:
        """Whether a resume point is due by step count or by time since the last one."""
        by_steps = bool(self.every_steps and step % self.every_steps == 0)
        by_time = bool(self.every_minutes and time.monotonic() - self.last_save >= 60 * self.every_minutes)
        return by_steps or by_time

    # ------------------------------------------------------------------ best weights
    def save_best(self, model: torch.nn.Module) -> None:
        """Keep a copy of the best weights so far (rank 0); ``flush_best`` writes it."""
        if self.folder is None or not self.dist.is_main:
            return
        self._best = {k: v.detach().to("cpu", copy=True) for k, v in state_io.model_tensors(model).items()}

    def flush_best(self) -> None:
        """Write the best weights kept in memory, if newer than the file."""
        if self._best is None or self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        state_io.save_tensors(self.folder / BEST, self._best)
        self._best = None

    def load_best(self, model: torch.nn.Module) -> bool:
        """Put the best weights back into ``model``; False if none were saved.

        Under DDP rank 0 reads them and sends them to the other ranks (no shared disk needed).
        """
        self.flush_best()
        path = None if self.folder is None else self.folder / BEST
        found = any_rank(self.dist, self.dist.is_main and path is not None and path.is_file())[0]
        if not found:
            return False
        if self.dist.is_main:
            model.load_state_dict(state_io.read_tensors(path))
        broadcast_module(self.dist, model)
        return True

    # ------------------------------------------------------------------ resume point
    def save(self, trainer: Trainer) -> None:
        """Everything ``trainer`` needs to resume, into last/ (every rank calls; rank 0 writes)."""
        self.last_save = time.monotonic()
        if self.folder is None:
            return
        if self.dist.is_main:
            self.flush_best()
        rng_meta, rng_tensors = state_io.rng_state()
        if self.dist.enabled:  # each rank's dropout stream, so a resumed DDP run repeats it
            for rank, part in enumerate(gather_tensors(self.dist, rng_tensors["rng.torch"])):
                rng_tensors[f"rng.torch.rank{rank}"] = part
        if not self.dist.is_main:
            return
        final = self.folder / LAST
        tmp = self.folder / f"{LAST}.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, torch.Tensor] = {}
        optim_meta = state_io.split_state(trainer.optimizer.state_dict(), "optim", tensors)
        rng_meta["world_size"] = self.dist.world_size
        tensors.update(rng_tensors)
        if trainer.ema is not None:
            tensors.update(trainer.ema.tensors())
        meta = {
            "state": dataclasses.asdict(trainer.state),
            "optimizer": optim_meta,
            "scheduler": trainer.scheduler.state_dict(),
            "scaler": trainer.scaler.state_dict(),
            "rng": rng_meta,
            "last_metrics": trainer.last_metrics,
            "callbacks": {type(cb).__name__: cb.state_dict() for cb in trainer.callbacks},
            "ema_updates": None if trainer.ema is None else trainer.ema.updates,
        }
        state_io.save_tensors(tmp / MODEL, state_io.model_tensors(trainer.model))
        state_io.save_tensors(tmp / STATE_TENSORS, tensors)
        state_io.write_json(tmp / STATE, meta)
        state_io.replace_dir(tmp, final)

    def load(self, trainer: Trainer) -> bool:
        """Restore ``trainer`` from last/; False when there is none."""
        found = None if self.folder is None else state_io.existing_dir(self.folder / LAST, STATE)
        if found is None:
            return False
        try:
            meta = json.loads((found / STATE).read_text(encoding="utf-8"))
            tensors = state_io.read_tensors(found / STATE_TENSORS)
            trainer.model.load_state_dict(state_io.read_tensors(found / MODEL))
        except Exception as err:  # safetensors, JSON and shape errors alike: the files are damaged
            raise RunDirError(
                f"{found}: the checkpoint cannot be read ({type(err).__name__}: {err}); delete that "
                f"folder to resume from an older copy if one is left ({LAST}.old), or train again"
            ) from None
        trainer.optimizer.load_state_dict(state_io.join_state(meta["optimizer"], tensors))
        trainer.scheduler.load_state_dict(meta["scheduler"])
        if meta.get("scaler"):
            trainer.scaler.load_state_dict(meta["scaler"])
        trainer.state = TrainState(**meta["state"])
        trainer.last_metrics = meta.get("last_metrics", {})
        own = tensors.get(f"rng.torch.rank{self.dist.rank}")
        if own is not None and meta["rng"].get("world_size") == self.dist.world_size:
            tensors["rng.torch"] = own
        state_io.set_rng_state(meta["rng"], tensors)
        if trainer.ema is not None and meta.get("ema_updates") is not None:
            trainer.ema.load(tensors, meta["ema_updates"])
        for cb in trainer.callbacks:
            cb.load_state_dict(meta.get("callbacks", {}).get(type(cb).__name__, {}))
        return True
