"""Predictor: a finished run directory, loaded for prediction (never unpickles).

torch is imported when a model is loaded, not with this module, so a torch-free backend
(inference/numpy_predictor.py) can reuse the run reading and answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fenlei.data.encoders import load_encoder
from fenlei.data.readers.jsonl import replace_lone_surrogates
from fenlei.errors import FenleiError, RunDirError
from fenlei.rundir import MODEL, RunDir
from fenlei.task import make_task


class Predictor:
    """Batched prediction from a run directory; results come back in input order."""

    def __init__(
        self, run_dir: str | Path, device: str = "cpu", batch_size: int | None = None, precision: str = "fp32"
    ) -> None:
        """``precision`` bf16: the family's bf16 forward (inference/bf16_forward.py) or its own
        under autocast; probabilities within ~1e-2 of fp32's, for CPUs with AMX."""
        if precision not in ("fp32", "bf16"):
            raise FenleiError(f"precision {precision!r}: choose fp32 or bf16")
        self.precision = precision
        self.rundir = RunDir(run_dir)
        self.rundir.check_predictable()
        self.run_dir = self.rundir.path
        self.config = self.rundir.read_config()
        self.labels = self.rundir.read_labels()
        self.encoder = load_encoder(self.run_dir)
        self.task = make_task(self.config.data)
        self.rundir.read_decision(self.task, self.labels.names)  # multi-label: tuned thresholds
        self.batch_size = batch_size or self._default_batch_size()
        self.device = device
        self._load_model()

    backend = "torch"

    def _default_batch_size(self) -> int:
        from fenlei.models import eval_batch_size

        return eval_batch_size(self.config.train, self.config.model.name)

    def _load_model(self) -> None:
        """Build the model family from the config and load model.safetensors into it."""
        import torch

        from fenlei.models import create_model, model_class

        self.device = torch.device(self.device)
        run_dir = self.run_dir
        m = self.config.model
        params = model_class(m.name).saved_params(dict(m.params), run_dir)
        tensors = self.rundir.read_model()
        # Pretrained vectors set the embedding width at training time (GloVe 50d, not
        # model.embed_dim); the saved table says what it was.
        table = tensors.get("embedding.weight")
        embed_dim = int(table.shape[1]) if table is not None and table.dim() == 2 else m.embed_dim
        self.model = create_model(
            m.name,
            self.encoder.vocab_size,
            len(self.labels),
            params=params,
            embed_dim=embed_dim,
            pad_id=self.encoder.pad_id,
            embeddings=None,
            init="default",
        )
        try:
            self.model.load_state_dict(tensors)
        except RuntimeError as err:
            raise RunDirError(f"{run_dir / MODEL}: does not fit the run's config ({err})") from None
        self.model.to(self.device).eval()
        self._bf16 = None
        if self.precision == "bf16":
            from fenlei.inference.bf16_forward import BF16_FORWARDS

            self.backend = "torch-bf16"
            if m.name in BF16_FORWARDS:
                self._bf16 = BF16_FORWARDS.get(m.name)(self.model)

    def _forward(self, batch: dict) -> np.ndarray:
        """Probabilities of one padded batch (input_ids, lengths)."""
        import torch

        with torch.inference_mode():
            batch = {k: (v if k == "lengths" else v.to(self.device)) for k, v in batch.items()}
            if self._bf16 is not None:
                logits = self._bf16(batch)
            elif self.precision == "bf16":
                with torch.autocast(self.device.type, dtype=torch.bfloat16):
                    logits = self.model(batch)
            else:
                logits = self.model(batch)
            return self.task.probabilities(logits.float()).cpu().numpy()

    @property
    def label_names(self) -> list[str]:
        """Label names in index order."""
        return self.labels.names

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities [N, C], rows in input order (batches are length-sorted inside).

        Single-label rows sum to 1 (softmax); multi-label entries are independent sigmoids.
        """
        texts = [str(t) for t in texts]
        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return probs
        from fenlei.data.batching import Batches

        batches = Batches(self.encoder.encode(texts), None, self.batch_size, self.encoder.pad_id)
        for batch in batches:
            idx = batch.pop("index").numpy()
            probs[idx] = self._forward(batch)
        return probs

    def predict(self, texts: Sequence[str], top_k: int = 1) -> list[dict]:
        """For each text: the top label, its probability and the ``top_k`` labels with theirs.

        A multi-label run gives ``labels`` instead of ``label``/``probability``: every label whose
        probability reaches its threshold, most probable first, each with its probability.
        """
        if top_k < 1:
            raise FenleiError("top_k must be at least 1")
        return self.results(texts, self.predict_proba(texts), top_k)

    def explain(self, texts: Sequence[str], label: str | None = None, steps: int | None = None) -> list:
        """Per-token scores of each text toward ``label`` (default: its predicted class), as
        ``inference.explanation.Explanation`` objects; integrated gradients over ``steps`` points."""
        from fenlei.inference.explain import DEFAULT_STEPS, explain

        return explain(self, texts, label, steps or DEFAULT_STEPS)

    def results(self, texts: Sequence[str], probs: np.ndarray, top_k: int = 1) -> list[dict]:
        """``predict``'s output from probabilities already computed (the server batches them)."""
        names = self.labels.names
        # echoed back as JSON: half a surrogate pair (from a JSON escape, or undecodable bytes in
        # argv) cannot be encoded, and would fail the response after the work was done
        return [
            self.task.answer(replace_lone_surrogates(str(text)), row, names, top_k)
            for text, row in zip(texts, probs, strict=True)
        ]

    def metadata(self) -> dict:
        """Model name, labels and the run's metrics (when present); metrics.json is read once."""
        if not hasattr(self, "_metrics"):  # a finished run's metrics do not change; /metadata asks often
            self._metrics = self.rundir.read_metrics()
        return {"model": self.config.model.name, "labels": self.labels.names, "metrics": self._metrics}
