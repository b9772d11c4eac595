"""fastText's own training for the fasttext family: plain per-example SGD with a linearly
decaying rate, one text at a time, touching only the rows the text holds (Joulin et al. 2017;
the official tool's supervised loop). Compiled with numba, so a step costs what the official
C++ step costs instead of a torch step's fixed ~5 ms (training/ would need 1,000s of them).

The tables are the torch model's (models/fasttext.py): with ``joint`` pooling (fastText's form)
one mean runs over the word and n-gram rows together, else the mean word vector and the mean
n-gram vector are concatenated. Either way the saved run is an ordinary fasttext run that every
backend (torch, numpy, ONNX) and the explainer load as they load a loop-trained one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Container

import numpy as np
from numba import njit

from fenlei.data.ngram_hash import flat_ngram_buckets


@njit(cache=True)
def _add_rows(h, offset, rows, ids, lo, hi, scale):
    """h[offset:offset+D] += scale * the sum of rows[ids[lo:hi]]."""
    dim = rows.shape[1]
    for k in range(lo, hi):
        r = rows[ids[k]]
        for j in range(dim):
            h[offset + j] += r[j] * scale


@njit(cache=True)
def _spread(dh, offset, rows, ids, lo, hi, lr, inv, acc):
    """Each of rows[ids[lo:hi]] += lr * dh[offset:offset+D] * inv (the gradient of a mean over
    1 / inv rows); with accumulators ``acc`` (one per row, adagrad) the rate of a row shrinks as
    its updates add up."""
    if hi <= lo:
        return
    dim = rows.shape[1]
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
    non-empty acc_* (per row of emb, table, weight) make the rates adagrad's. The mean of a
    text's emb rows fills h[:D], the mean of its table rows (if table has columns) h[D:]."""
    classes, width = weight.shape
    dim = emb.shape[1]
    h = np.zeros(width, np.float32)
    dh = np.zeros(width, np.float32)
    z = np.zeros(classes, np.float64)
    loss = 0.0
    for step in range(order.shape[0]):
        i = order[step]
        lr = lr0 * (1.0 - (done + step) / total)
        w_lo, w_hi, g_lo, g_hi = word_starts[i], word_starts[i + 1], gram_starts[i], gram_starts[i + 1]
        inv_w, inv_g = 1.0 / max(w_hi - w_lo, 1), 1.0 / max(g_hi - g_lo, 1)
        for j in range(width):
            h[j] = 0.0
        _add_rows(h, 0, emb, words, w_lo, w_hi, inv_w)
        if table.shape[1]:
            _add_rows(h, dim, table, grams, g_lo, g_hi, inv_g)
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
        _spread(dh, 0, emb, words, w_lo, w_hi, lr, inv_w, acc_e)
        if table.shape[1]:
            _spread(dh, dim, table, grams, g_lo, g_hi, lr, inv_g, acc_t)
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
    joint: bool = False,
    on_epoch=None,
    sync_at: Container[int] = (),
) -> list[float]:
    """Train in place ``arrays`` (weight [C, D+G] or, ``joint``, [C, D]; bias [C] or [0]; emb
    [V, D]; table [B+1, G] or [1, 0] without n-grams) on ``targets`` [N, C] (one-hot or label
    sets) with fastText's SGD, or row-wise adagrad rates; returns the mean loss of each epoch.
    ``joint``: one mean over a text's word and n-gram rows. ``on_epoch(epoch, loss, seconds)`` is
    called after each pass (progress, dev scores); with ``joint`` the tables in ``arrays`` are up
    to date only after the epochs in ``sync_at`` and the last."""
    words, word_starts, grams, gram_starts = feats
    emb, table = arrays["emb"], arrays["table"]
    if joint:  # one mean: each text's n-gram rows join its word rows in one table for the pass
        words, word_starts = _joined(words, word_starts, grams, gram_starts, len(emb))
        grams, gram_starts = grams[:0], np.zeros_like(gram_starts)
        emb, table = np.concatenate([emb, table]), table[:, :0]
    n = len(targets)
    rng = np.random.default_rng(seed)
    losses = []
    acc = {k: np.zeros(len(v) if adagrad else 0) for k, v in (("emb", emb), ("table", table))}
    acc["weight"] = np.zeros(len(arrays["weight"]) if adagrad else 0)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(n).astype(np.int64)
        loss = _epoch(
            words, word_starts, grams, gram_starts, targets, softmax, order,
            arrays["weight"], arrays["bias"], emb, table,
            lr, epoch * n, epochs * n, acc["emb"], acc["table"], acc["weight"],
        )  # fmt: skip
        losses.append(loss / max(n, 1))
        if joint and (epoch in sync_at or epoch == epochs - 1):  # back into the model's tables
            arrays["emb"][:] = emb[: len(arrays["emb"])]
            arrays["table"][:] = emb[len(arrays["emb"]) :]
        if on_epoch is not None:
            on_epoch(epoch, losses[-1], time.perf_counter() - t0)
    return losses


def _joined(words, word_starts, grams, gram_starts, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Each text's word ids followed by its n-gram ids + ``offset``, concatenated, with offsets.
    One pass over one list of rows trains about 2x faster than two passes over two tables with
    the same rows (IMDb, 2**21 buckets: 1.6 s against 3.5 s an epoch)."""
    n_w, n_g = np.diff(word_starts), np.diff(gram_starts)
    starts = np.zeros(len(n_w) + 1, dtype=np.int64)
    np.cumsum(n_w + n_g, out=starts[1:])
    out = np.empty(starts[-1], dtype=np.int64)
    owner = np.repeat(np.arange(len(n_w)), n_w)
    out[starts[owner] + np.arange(len(words)) - word_starts[owner]] = words
    owner = np.repeat(np.arange(len(n_g)), n_g)
    out[starts[owner] + n_w[owner] + np.arange(len(grams)) - gram_starts[owner]] = grams + offset
    return out, starts
