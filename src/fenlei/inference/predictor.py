"""Predictor: a finished run directory, loaded for prediction (never unpickles)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError

from fenlei import state_io
from fenlei.config import load_config
from fenlei.data.batching import Batches
from fenlei.data.encoder import load_encoder
from fenlei.data.labels import LabelMap
from fenlei.data.readers_io import replace_lone_surrogates
from fenlei.errors import FenleiError, RunDirError
from fenlei.evaluation.multilabel import THRESHOLDS_FILE, load_thresholds, probabilities
from fenlei.models import create_model, eval_batch_size

REQUIRED = ("config.yaml", "labels.json", "model.safetensors")


class Predictor:
    """Batched prediction from a run directory; results come back in input order."""

    def __init__(self, run_dir: str | Path, device: str = "cpu", batch_size: int | None = None) -> None:
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunDirError(f"{run_dir}: run directory not found")
        missing = [name for name in REQUIRED if not (run_dir / name).is_file()]
        if missing:
            hint = " (training did not finish)" if (run_dir / "FAILED").exists() else ""
            raise RunDirError(
                f"{run_dir}: missing {', '.join(missing)}{hint}; train it again with fenlei train"
            )
        self.run_dir = run_dir
        self.config = load_config(run_dir / "config.yaml")
        try:
            self.labels = LabelMap.load(run_dir / "labels.json")
        except (ValueError, KeyError) as err:
            raise RunDirError(f"{run_dir / 'labels.json'}: corrupt ({err})") from None
        self.encoder = load_encoder(run_dir)
        self.multi_label = self.config.data.multi_label
        # multi-label: per-label decision thresholds tuned on dev (thresholds.json), else None
        self.thresholds = (
            load_thresholds(run_dir / THRESHOLDS_FILE, self.labels.names) if self.multi_label else None
        )
        self.batch_size = batch_size or eval_batch_size(self.config.train, self.config.model.name)
        self.device = torch.device(device)
        self._load_model()

    backend = "torch"

    def _load_model(self) -> None:
        """Build the model family from the config and load model.safetensors into it."""
        run_dir = self.run_dir
        m = self.config.model
        params = dict(m.params)
        if self.encoder.encoder_type == "hf":  # built from the run's own Hugging Face folder
            from fenlei.data.hf_encoder import HF_DIR

            params["pretrained"] = str(run_dir / HF_DIR)
        try:
            tensors = state_io.read_tensors(run_dir / "model.safetensors")
        except (OSError, RuntimeError, ValueError, SafetensorError) as err:
            raise RunDirError(f"{run_dir / 'model.safetensors'}: cannot be loaded ({err})") from None
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
            raise RunDirError(
                f"{run_dir / 'model.safetensors'}: does not fit the run's config ({err})"
            ) from None
        self.model.to(self.device).eval()

    def _forward(self, batch: dict) -> np.ndarray:
        """Probabilities of one padded batch (input_ids, lengths)."""
        with torch.inference_mode():
            batch = {k: (v if k == "lengths" else v.to(self.device)) for k, v in batch.items()}
            return probabilities(self.model(batch), self.multi_label).float().cpu().numpy()

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

    def results(self, texts: Sequence[str], probs: np.ndarray, top_k: int = 1) -> list[dict]:
        """``predict``'s output from probabilities already computed (the server batches them)."""
        names = self.labels.names
        out = []
        for text, row in zip(texts, probs, strict=True):
            # echoed back as JSON: half a surrogate pair (from a JSON escape, or undecodable bytes
            # in argv) cannot be encoded, and would fail the response after the work was done
            text = replace_lone_surrogates(str(text))
            order = np.argsort(-row)[: min(top_k, len(names))]
            if self.multi_label:
                chosen = [i for i in np.argsort(-row) if row[i] >= self.thresholds[i]]
                out.append(
                    {
                        "text": text,
                        "labels": [{"label": names[i], "probability": float(row[i])} for i in chosen],
                        "top": [{"label": names[i], "probability": float(row[i])} for i in order],
                    }
                )
                continue
            out.append(
                {
                    "text": text,
                    "label": names[order[0]],
                    "probability": float(row[order[0]]),
                    "top": [{"label": names[i], "probability": float(row[i])} for i in order],
                }
            )
        return out

    def metadata(self) -> dict:
        """Model name, labels and the run's metrics (when present); metrics.json is read once."""
        if not hasattr(self, "_metrics"):  # a finished run's metrics do not change; /metadata asks often
            path = self.run_dir / "metrics.json"
            self._metrics = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        return {"model": self.config.model.name, "labels": self.labels.names, "metrics": self._metrics}


def load(run_dir: str | Path, device: str = "cpu") -> Predictor:
    """Open a run directory for prediction."""
    return Predictor(run_dir, device=device)
