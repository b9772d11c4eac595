"""Seeds and deterministic algorithms for a run, undone when the run ends."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic(enabled: bool, device: torch.device):
    """torch's deterministic algorithms for the block (an error names any op that has none);
    the previous setting is restored after, so a library call leaves no global trace.

    Batches are built in this process: there are no loader workers to seed.
    """
    before = torch.are_deterministic_algorithms_enabled()
    benchmark = torch.backends.cudnn.benchmark
    if enabled:
        if device.type == "cuda":
            # The one environment change in fenlei's library code: cuBLAS reads its workspace
            # setting only from the environment, and deterministic GEMMs need it (torch's docs,
            # "Reproducibility"). A value the user set is left alone.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
        torch.backends.cudnn.benchmark = benchmark
