"""A keyword model that explains itself exactly: the stand-in predictor of the explain tests."""

from __future__ import annotations

import re

import numpy as np

from fenlei.errors import FenleiError
from fenlei.inference.explanation import Explanation, TokenScore

POS = {"good", "great", "lovely", "superb"}
NEG = {"bad", "awful", "dull", "boring"}


class KeywordExplainer:
    """p(pos) = sigmoid(2 * (positive words - negative words)); each word's score is its own share."""

    label_names = ["neg", "pos"]
    backend = "torch"

    def __init__(self) -> None:
        self.calls = 0

    @staticmethod
    def _score(word: str) -> float:
        return 2.0 if word.lower() in POS else -2.0 if word.lower() in NEG else 0.0

    def predict_proba(self, texts):
        z = np.array([sum(self._score(w) for w in str(t).split()) for t in texts], dtype=float)
        p = 1 / (1 + np.exp(-z))
        return np.stack([1 - p, p], axis=1).astype(np.float32)

    def results(self, texts, probs, top_k=1):
        """``Predictor.results``: what /predict answers."""
        out = []
        for text, row in zip(texts, probs, strict=True):
            order = np.argsort(-row)[:top_k]
            top = [{"label": self.label_names[i], "probability": float(row[i])} for i in order]
            out.append({"text": text, **top[0], "top": top})
        return out

    def explain(self, texts, label=None):
        self.calls += 1
        if label is not None and label not in self.label_names:
            raise FenleiError(f"label {label!r} is not one of the run's labels: neg, pos")
        out = []
        for text, p in zip(texts, self.predict_proba(texts), strict=True):
            if not text.strip():
                raise FenleiError("cannot explain an empty text")
            predicted = self.label_names[int(p.argmax())]
            name = label or predicted
            sign = 1.0 if name == "pos" else -1.0
            toks = [
                TokenScore(m.group(), m.start(), m.end(), sign * self._score(m.group()))
                for m in re.finditer(r"\S+", text)
            ]
            out.append(
                Explanation(
                    text, name, float(p[self.label_names.index(name)]), predicted, toks, "exact-linear"
                )
            )
        return out
