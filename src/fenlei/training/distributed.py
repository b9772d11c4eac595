"""Data-parallel training under ``torchrun``: process group, sharded batches, gathered metrics.

``fenlei train`` needs no flag: when ``torchrun`` sets WORLD_SIZE > 1 the process joins the
group (gloo on CPU, nccl on GPU), every rank builds the same data and model from the same seed,
takes every ``world``-th batch of the shared epoch order, and DDP averages the gradients. Dev
and test evaluation are split across ranks and summed back, so every rank holds the same
metrics and makes the same early-stopping decision; only rank 0 writes the run directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist

from fenlei.errors import FenleiError

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: rank, world size and its local rank on the node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files and prints."""
        return self.rank == 0


SINGLE = DistContext()


def launched_world_size() -> int:
    """WORLD_SIZE as torchrun sets it (1 when not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def init_distributed(device: torch.device) -> DistContext:
    """Join the torchrun process group when there is one; a single process gets ``SINGLE``."""
    world = launched_world_size()
    if world <= 1:
        return SINGLE
    if not dist.is_available():
        raise FenleiError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, backend)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (after a final barrier, so no rank exits while others still talk)."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_on_main(ctx: DistContext, fn: Callable[[], T]) -> T | None:
    """Run ``fn`` on rank 0 only; if it raises a FenleiError every rank raises, instead of hanging."""
    if not ctx.enabled:
        return fn()
    result, failed = None, None
    if ctx.is_main:
        try:
            result = fn()
        except FenleiError as err:
            failed = err
    flag = torch.tensor([1 if failed else 0])
    dist.broadcast(flag, 0)
    if failed is not None:
        raise failed
    if flag.item():
        raise FenleiError("rank 0 stopped with an error (see its output above); nothing was trained")
    return result


def any_rank(ctx: DistContext, *values: bool) -> tuple[bool, ...]:
    """Each flag, true on every rank when it is true on at least one (e.g. a stop signal);
    one all-reduce for all of them."""
    if not ctx.enabled:
        return tuple(bool(v) for v in values)
    flags = torch.tensor([1 if v else 0 for v in values])
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    return tuple(bool(f) for f in flags.tolist())


def sum_arrays(ctx: DistContext, *arrays: np.ndarray) -> list[np.ndarray]:
    """Element-wise sums over ranks of float arrays (each rank filled its own rows, zeros elsewhere)."""
    if not ctx.enabled:
        return list(arrays)
    out = []
    for arr in arrays:
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))
        dist.all_reduce(t)
        out.append(t.numpy().astype(arr.dtype))
    return out


def gather_tensors(ctx: DistContext, tensor: torch.Tensor) -> list[torch.Tensor]:
    """``tensor`` of every rank (same shape everywhere), in rank order; rank 0's alone when single."""
    if not ctx.enabled:
        return [tensor]
    parts = [torch.empty_like(tensor) for _ in range(ctx.world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return parts


def broadcast_module(ctx: DistContext, module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers into every rank's ``module``."""
    if not ctx.enabled:
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, 0)


class ShardedBatches:
    """One rank's share of a batch source: every ``world``-th batch of the shared epoch order.

    The order is padded by repeating its first batches so all ranks take the same number of
    steps (as torch's DistributedSampler pads); anything with ``order``/``batch``/``set_epoch``
    can be sharded (plain, UDA and streamed batches).
    """

    def __init__(self, inner, ctx: DistContext) -> None:
        self.inner = inner
        self.ctx = ctx
        self.seqs = inner.seqs
        self.labels = inner.labels

    def set_epoch(self, epoch: int) -> None:
        """Pick the shared order of ``epoch``."""
        self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        return -(-len(self.inner) // self.ctx.world_size)

    def order(self) -> list:
        """This rank's batches of the epoch."""
        full = list(self.inner.order())
        if not full:
            return []
        world = self.ctx.world_size
        padded = [full[i % len(full)] for i in range(len(self) * world)]
        return padded[self.ctx.rank :: world]

    def batch(self, item) -> dict:
        """The batch dict of one item of ``order()``."""
        return self.inner.batch(item)

    def __iter__(self):
        for item in self.order():
            yield self.batch(item)
