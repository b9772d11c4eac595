"""Forward passes in plain numpy for the families whose maths is a few table lookups, so a
one-shot ``fenlei predict`` of such a run never imports torch (about 1 s of a 1.2 s call).

``NUMPY_FORWARDS[name](tensors, params)`` prepares a family's forward from the run's
model.safetensors (numpy arrays under the torch model's state-dict names); calling it with
``(ids, starts)`` gives logits [N, C] of the texts whose ids are concatenated in ``ids`` (text j
holds ``ids[starts[j]:starts[j+1]]``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fenlei.data.ngram_hash import flat_ngram_buckets
from fenlei.errors import FenleiError
from fenlei.registry import Registry

NumpyForward = Callable[[dict[str, np.ndarray], dict], Callable[[np.ndarray, np.ndarray], np.ndarray]]
NUMPY_FORWARDS: Registry[NumpyForward] = Registry("numpy forward", FenleiError)


def _bag_sum(table: np.ndarray, rows: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """[count, D] sum of ``table[rows]`` per owner (zeros for an owner with no rows)."""
    out = np.zeros((count, table.shape[1]), dtype=np.float32)
    if len(rows):
        _sum_sorted(out, table[rows], owner)
    return out


def _sum_sorted(out: np.ndarray, values: np.ndarray, owner: np.ndarray) -> None:
    """out[j] = sum of the ``values`` rows whose owner is j (owners ascending, as produced)."""
    present, first = np.unique(owner, return_index=True)
    out[present] = np.add.reduceat(values, first, axis=0)


def _linear(x: np.ndarray, tensors: dict, name: str) -> np.ndarray:
    y = x @ tensors[f"{name}.weight"].T
    bias = tensors.get(f"{name}.bias")
    return y + bias if bias is not None else y


@NUMPY_FORWARDS.register("fasttext")
class FastTextForward:
    """models/fasttext.py: mean word vector ++ mean hashed n-gram vector (pooling joint: one mean
    over both), then the classifier.

    With a linear classifier the mean commutes with it, so each table is projected once at load
    (rows x classes) and a text gathers ``classes`` numbers per token instead of a 100-d row:
    memory traffic, which bounds this forward, drops by dim / classes (50x for two classes)."""

    def __init__(self, tensors: dict[str, np.ndarray], params: dict) -> None:
        self.tensors = tensors
        self.ngrams = int(params.get("ngrams", 1))
        self.buckets = int(params.get("buckets") or 1)
        self.linear = "classifier.weight" in tensors
        emb = tensors["embedding.weight"]
        self.tables = [emb] + ([tensors["ngram_bag.weight"]] if self.ngrams > 1 else [])
        first = tensors["classifier.weight" if self.linear else "classifier.0.weight"]
        # joint pooling: the classifier reads one D-wide mean, not two side by side
        self.joint = self.ngrams > 1 and first.shape[1] == emb.shape[1]
        if self.linear:
            weight, dim = tensors["classifier.weight"], emb.shape[1]
            parts = [weight, weight] if self.joint else [weight[:, :dim], weight[:, dim:]]
            # zip stops at the word table when there is no n-gram table (ngrams 1)
            self.tables = [np.ascontiguousarray(t @ w.T) for t, w in zip(self.tables, parts, strict=False)]

    def __call__(self, ids: np.ndarray, starts: np.ndarray) -> np.ndarray:
        count = len(starts) - 1
        owner = np.repeat(np.arange(count), np.diff(starts))
        features = [_bag_sum(self.tables[0], ids, owner, count)]
        counts = [np.diff(starts)]
        if self.ngrams > 1:
            grams = [flat_ngram_buckets(ids, starts, n, self.buckets) for n in range(2, self.ngrams + 1)]
            rows = np.concatenate([g[0] for g in grams])
            owners = np.concatenate([g[1] for g in grams])
            order = np.argsort(owners, kind="stable")
            features.append(_bag_sum(self.tables[1], rows[order], owners[order], count))
            counts.append(np.bincount(owners, minlength=count))
        if self.joint:  # one mean over word and n-gram rows
            features, counts = [features[0] + features[1]], [counts[0] + counts[1]]
        pairs = zip(features, counts, strict=True)
        features = [f / np.maximum(c, 1)[:, None].astype(np.float32) for f, c in pairs]
        t = self.tensors
        if self.linear:
            logits = sum(features)
            return logits + t["classifier.bias"] if "classifier.bias" in t else logits
        hidden = np.maximum(_linear(np.concatenate(features, axis=1), t, "classifier.0"), 0.0)
        return _linear(hidden, t, "classifier.3")  # Linear, ReLU, Dropout, Linear
