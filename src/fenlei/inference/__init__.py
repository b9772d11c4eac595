"""Prediction from a finished run directory, on one of several backends.

``load(run_dir, backend="auto")`` is the one place that turns a backend name into a
predictor; the CLI and the server ask here. ``auto`` is numpy for a family that has a numpy
forward (no torch import: a one-shot CLI call starts in a fraction of a second), torch-bf16 for
one with a bf16 forward on a CPU that multiplies bf16 in hardware (AMX; 1.6-4x fp32's speed at the
same accuracy, docs/BENCHMARKS.md), else torch (fp32).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fenlei.errors import FenleiError
from fenlei.registry import Registry

BACKENDS: Registry[Callable[..., object]] = Registry("backend", FenleiError)


@BACKENDS.register("torch")
def _torch(run_dir: Path, device: str = "cpu"):
    from fenlei.inference.predictor import Predictor

    return Predictor(run_dir, device=device)


@BACKENDS.register("torch-bf16")
def _torch_bf16(run_dir: Path, device: str = "cpu"):
    from fenlei.inference.predictor import Predictor

    return Predictor(run_dir, device=device, precision="bf16")


def _onnx(quantized: bool | None):
    def open_onnx(run_dir: Path, device: str = "cpu"):
        from fenlei.inference.onnx_predictor import OnnxPredictor

        return OnnxPredictor(run_dir, quantized=quantized)

    return open_onnx


@BACKENDS.register("numpy")
def _numpy(run_dir: Path, device: str = "cpu"):
    from fenlei.inference.numpy_predictor import NumpyPredictor

    if device != "cpu":
        raise FenleiError(f"the numpy backend runs on the CPU only, not {device}; use --backend torch")
    return NumpyPredictor(run_dir)


@BACKENDS.register("auto")
def _auto(run_dir: Path, device: str = "cpu"):
    from fenlei.inference.bf16_forward import BF16_FORWARDS, native_bf16
    from fenlei.inference.numpy_forward import NUMPY_FORWARDS
    from fenlei.rundir import RunDir

    rundir = RunDir(run_dir)
    rundir.check_predictable()
    name = rundir.read_config().model.name
    if device == "cpu" and name in NUMPY_FORWARDS:
        return BACKENDS.get("numpy")(run_dir, device=device)
    if device == "cpu" and name in BF16_FORWARDS and native_bf16():  # torch is loaded either way
        return BACKENDS.get("torch-bf16")(run_dir, device=device)
    return BACKENDS.get("torch")(run_dir, device=device)


# onnx: the int8 model when the export made one, else fp32
BACKENDS.register("onnx")(_onnx(None))
BACKENDS.register("onnx-fp32")(_onnx(False))
BACKENDS.register("onnx-int8")(_onnx(True))


def load(run_dir: str | Path, backend: str = "auto", device: str = "cpu"):
    """Open a run directory for prediction on ``backend`` (auto, torch, numpy, onnx, onnx-fp32,
    onnx-int8)."""
    if backend not in BACKENDS:
        raise FenleiError(f"--backend {backend}: choose {', '.join(BACKENDS.names())}")
    return BACKENDS.get(backend)(Path(run_dir), device=device)
