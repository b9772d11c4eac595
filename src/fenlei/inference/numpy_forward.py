"""Forward passes in plain numpy for the families whose maths is a few table lookups, so a
one-shot ``fenlei predict`` of such a run never imports torch (about 1 s of a 1.2 s call).

``NUMPY_FORWARDS[name](tensors, params, ids, starts)`` gives logits [N, C] of the texts whose
ids are concatenated in ``ids`` (text j holds ``ids[starts[j]:starts[j+1]]``); ``tensors`` are
the run's model.safetensors as numpy arrays under the torch model's state-dict names.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fenlei.data.ngram_hash import flat_ngram_buckets
from fenlei.errors import FenleiError
from fenlei.registry import Registry

NumpyForward = Callable[[dict[str, np.ndarray], dict, np.ndarray, np.ndarray], np.ndarray]
NUMPY_FORWARDS: Registry[NumpyForward] = Registry("numpy forward", FenleiError)


def _bag_mean(table: np.ndarray, rows: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """[count, D] mean of ``table[rows]`` per owner (zeros for an owner with no rows)."""
    out = np.zeros((count, table.shape[1]), dtype=np.float32)
    if len(rows):
        _sum_sorted(out, table[rows], owner)
        out /= np.maximum(np.bincount(owner, minlength=count), 1)[:, None].astype(np.float32)
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
def fasttext_forward(tensors: dict, params: dict, ids: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """models/fasttext.py: mean word vector ++ mean hashed n-gram vector, then the classifier."""
    count = len(starts) - 1
    owner = np.repeat(np.arange(count), np.diff(starts))
    features = [_bag_mean(tensors["embedding.weight"], ids, owner, count)]
    if int(params.get("ngrams", 1)) > 1:
        buckets = int(params["buckets"])
        grams = [flat_ngram_buckets(ids, starts, n, buckets) for n in range(2, int(params["ngrams"]) + 1)]
        rows = np.concatenate([g[0] for g in grams])
        owners = np.concatenate([g[1] for g in grams])
        order = np.argsort(owners, kind="stable")
        features.append(_bag_mean(tensors["ngram_bag.weight"], rows[order], owners[order], count))
    x = np.concatenate(features, axis=1)
    if "classifier.weight" in tensors:
        return _linear(x, tensors, "classifier")
    hidden = np.maximum(_linear(x, tensors, "classifier.0"), 0.0)  # Linear, ReLU, Dropout, Linear
    return _linear(hidden, tensors, "classifier.3")
