"""Predictor on onnxruntime: the same tokenizer, batching and output as the torch Predictor,
with the model from ``fenlei export`` (model.onnx, or model.int8.onnx)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fenlei.errors import FenleiError, RunDirError
from fenlei.inference.predictor import Predictor
from fenlei.rundir import ONNX_META


class OnnxPredictor(Predictor):
    """``Predictor`` whose forward pass runs in onnxruntime (CPU)."""

    backend = "onnx"

    def __init__(
        self, run_dir: str | Path, quantized: bool | None = None, batch_size: int | None = None
    ) -> None:
        # quantized None: the int8 model when the export made one, else fp32.
        self._quantized = quantized
        super().__init__(run_dir, device="cpu", batch_size=batch_size)

    def _load_model(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise FenleiError(
                "the onnx backend needs the export extra: pip install 'fenlei[export]'"
            ) from None
        meta = self.rundir.read_json(ONNX_META)
        if meta is None:
            raise RunDirError(
                f"{self.run_dir}: no ONNX export; run `fenlei export {self.run_dir} --format onnx` first"
            )
        files = meta.get("files", {})
        want_int8 = self._quantized if self._quantized is not None else "int8" in files
        if want_int8 and "int8" not in files:
            raise RunDirError(f"{self.run_dir}: no int8 model; export with --quantize int8")
        path = self.run_dir / files["int8" if want_int8 else "fp32"]
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own types for unreadable files
            raise RunDirError(f"{path}: cannot be loaded by onnxruntime ({err})") from None
        # Every batch is padded to the exported length (fixed) or at least the minimum length.
        self.pad_to = meta.get("fixed_length") or meta.get("min_length") or 0
        self.backend = "onnx-int8" if want_int8 else "onnx"
        self.windowed = "windows" in meta.get("inputs", [])
        self.model = None

    def _forward(self, batch: dict) -> np.ndarray:
        ids = batch["input_ids"].numpy()
        if ids.shape[1] < self.pad_to:
            ids = np.pad(ids, ((0, 0), (0, self.pad_to - ids.shape[1])), constant_values=self.encoder.pad_id)
        inputs = {"input_ids": ids.astype(np.int64), "lengths": batch["lengths"].numpy().astype(np.int64)}
        if self.windowed:  # a batch of texts that each fit one window carries no counts
            counts = batch.get("windows")
            inputs["windows"] = (
                np.ones(len(ids), np.int64) if counts is None else counts.numpy().astype(np.int64)
            )
        return self.session.run(None, inputs)[0]
