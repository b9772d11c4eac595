"""fastText's own training for the fasttext family: plain per-example SGD with a linearly
decaying rate, one text at a time, touching only the rows the text holds (Joulin et al. 2017;
the official tool's supervised loop). Compiled with numba, so a step costs what the official
C++ step costs instead of a torch step's fixed ~5 ms (training/ would need 1,000s of them).

The model is fenlei's, not fastText's: the mean word vector and the mean n-gram vector are
concatenated (models/fasttext.py), so the saved run is an ordinary fasttext run that every
backend (torch, numpy, ONNX) and the explainer load as they load a loop-trained one.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import njit

from fenlei.data.ngram_hash import flat_ngram_buckets


@njit(cache=True)
def _add_mean(h, offset, rows, ids, lo, hi):
    """h[offset:offset+D] = mean of rows[ids[lo:hi]] (left at zero when there are none)."""
    dim = rows.shape[1]
    for j in range(dim):
        h[offset + j] = 0.0
    for k in range(lo, hi):
        r = rows[ids[k]]
        for j in range(dim):
            h[offset + j] += r[j]
    if hi > lo:
        inv = 1.0 / (hi - lo)
        for j in range(dim):
            h[offset + j] *= inv


@njit(cache=True)
def _spread(dh, offset, rows, ids, lo, hi, lr, acc):
    """Each of rows[ids[lo:hi]] += lr * dh[offset:offset+D] / count (the mean's gradient); with
    accumulators ``acc`` (one per row, adagrad) the rate of a row shrinks as its updates add up."""
    if hi <= lo:
        return
    dim = rows.shape[1]
    inv = 1.0 / (hi - lo)
    sq = 0.0
    if acc.shape[0]:
        for j in range(dim):
            sq += (dh[offset + j] * inv) ** 2
        sq /= dim
    for k in range(lo, hi):
        step = lr * inv
        if acc.shape[0]:
            acc[ids[k]] += sq
            step /= math.sqrt(acc[ids[k]]) + 1e-8
        r = rows[ids[k]]
        for j in range(dim):
            r[j] += dh[offset + j] * step


@njit(cache=True)
def _epoch(
    words, word_starts, grams, gram_starts, targets, softmax, order,
    weight, bias, emb, table, lr0, done, total, acc_e, acc_t, acc_w,
):  # fmt: skip
    """One pass over ``order``; returns the summed loss. Rows of emb/table/weight change in place;
    non-empty acc_* (per row of emb, table, weight) make the rates adagrad's."""
    classes, width = weight.shape
    dim = emb.shape[1]
    h = np.zeros(width, np.float32)
    dh = np.zeros(width, np.float32)
    z = np.zeros(classes, np.float64)
    loss = 0.0
    for step in range(order.shape[0]):
        i = order[step]
        lr = lr0 * (1.0 - (done + step) / total)
        _add_mean(h, 0, emb, words, word_starts[i], word_starts[i + 1])
        if width > dim:
            _add_mean(h, dim, table, grams, gram_starts[i], gram_starts[i + 1])
        for c in range(classes):
            acc = bias[c] if bias.shape[0] else 0.0  # an empty bias: the layer has none
            wc = weight[c]
            for j in range(width):
                acc += wc[j] * h[j]
            z[c] = acc
        if softmax:
            top = z.max()
            total_e = 0.0
            for c in range(classes):
                z[c] = math.exp(z[c] - top)
                total_e += z[c]
            for c in range(classes):
                z[c] /= total_e
        else:
            for c in range(classes):
                z[c] = 1.0 / (1.0 + math.exp(-z[c]))
        for j in range(width):
            dh[j] = 0.0
        for c in range(classes):
            y = targets[i, c]
            p = z[c]
            if y > 0:
                loss -= y * math.log(max(p, 1e-12))
            if not softmax and y < 1:
                loss -= (1.0 - y) * math.log(max(1.0 - p, 1e-12))
            g = y - p
            if g == 0.0:
                continue
            wc = weight[c]
            step = lr * g
            if acc_w.shape[0]:
                sq = g * g
                for j in range(width):
                    sq += (g * h[j]) ** 2
                acc_w[c] += sq / width
                step /= math.sqrt(acc_w[c]) + 1e-8
            for j in range(width):
                dh[j] += g * wc[j]
                wc[j] += step * h[j]
            if bias.shape[0]:
                bias[c] += step
        _spread(dh, 0, emb, words, word_starts[i], word_starts[i + 1], lr, acc_e)
        if width > dim:
            _spread(dh, dim, table, grams, gram_starts[i], gram_starts[i + 1], lr, acc_t)
    return loss


def features(encoded: list[np.ndarray], ngrams: int, buckets: int) -> tuple[np.ndarray, ...]:
    """Concatenated word ids and hashed 2..ngrams-gram bucket ids of every text, with offsets:
    the hashing is done once here, not once per epoch."""
    starts = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(a) for a in encoded], out=starts[1:])
    words = np.concatenate(encoded) if encoded else np.zeros(0, np.int64)
    parts = [flat_ngram_buckets(words, starts, n, buckets) for n in range(2, ngrams + 1)]
    grams = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    owner = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    order = np.argsort(owner, kind="stable")
    gram_starts = np.searchsorted(owner[order], np.arange(len(encoded) + 1)).astype(np.int64)
    return words, starts, grams[order], gram_starts


def train_sgd(
    arrays: dict[str, np.ndarray],
    feats: tuple[np.ndarray, ...],
    targets: np.ndarray,
    softmax: bool,
    lr: float,
    epochs: int,
    seed: int,
    adagrad: bool = False,
    on_epoch=None,
) -> list[float]:
    """Train in place ``arrays`` (weight [C, D+G], bias [C] or [0], emb [V, D], table [B+1, G]) on
    ``targets`` [N, C] (one-hot or label sets) with fastText's SGD, or row-wise adagrad rates;
    returns the mean loss of each epoch.
    ``on_epoch(epoch, loss, seconds)`` is called after each pass (progress, dev scores)."""
    words, word_starts, grams, gram_starts = feats
    n = len(targets)
    rng = np.random.default_rng(seed)
    losses = []
    acc = {k: np.zeros(len(arrays[k]) if adagrad else 0) for k in ("emb", "table", "weight")}
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(n).astype(np.int64)
        loss = _epoch(
            words, word_starts, grams, gram_starts, targets, softmax, order,
            arrays["weight"], arrays["bias"], arrays["emb"], arrays["table"],
            lr, epoch * n, epochs * n, acc["emb"], acc["table"], acc["weight"],
        )  # fmt: skip
        losses.append(loss / max(n, 1))
        if on_epoch is not None:
            on_epoch(epoch, losses[-1], time.perf_counter() - t0)
    return losses
