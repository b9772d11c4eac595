"""Predictor whose forward pass is plain numpy (inference/numpy_forward.py): the same run
reading, tokenizer and answers as the torch Predictor, without importing torch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fenlei.errors import RunDirError
from fenlei.inference.numpy_forward import NUMPY_FORWARDS
from fenlei.inference.predictor import Predictor
from fenlei.rundir import MODEL

DEFAULT_BATCH = 2048  # texts per forward: large enough to amortise numpy's per-call cost


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# Task.probabilities in numpy, by Task.activation
ACTIVATIONS = {"softmax": _softmax, "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}


class NumpyPredictor(Predictor):
    """``Predictor`` for a family registered in NUMPY_FORWARDS (CPU only)."""

    backend = "numpy"

    def _default_batch_size(self) -> int:
        return self.config.train.eval_batch_size or DEFAULT_BATCH

    def _load_model(self) -> None:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        name = self.config.model.name
        if name not in NUMPY_FORWARDS:
            raise RunDirError(
                f"{self.run_dir}: model {name} has no numpy forward (numpy serves "
                f"{', '.join(NUMPY_FORWARDS.names())}); use --backend torch"
            )
        path = self.run_dir / MODEL
        try:
            self.tensors = load_file(str(path))
        except (OSError, ValueError, SafetensorError) as err:
            raise RunDirError(f"{path}: cannot be loaded ({err})") from None
        try:
            self._forward_fn = NUMPY_FORWARDS.get(name)(self.tensors, dict(self.config.model.params))
        except (KeyError, ValueError) as err:
            raise RunDirError(f"{path}: does not fit the run's config ({err})") from None
        self.model = None

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for lo in range(0, len(texts), self.batch_size):
            chunk = texts[lo : lo + self.batch_size]
            logits = self._forward_fn(*self.encoder.encode_flat(chunk))
            probs[lo : lo + len(chunk)] = ACTIVATIONS[self.task.activation](logits.astype(np.float32))
        return probs

    def explain(self, texts: Sequence[str], label: str | None = None, steps: int | None = None) -> list:
        """Explanations come from the torch model of the same run (loaded on first use)."""
        if getattr(self, "_torch", None) is None:
            self._torch = Predictor(self.run_dir, batch_size=self.batch_size)
        return self._torch.explain(texts, label, steps)
