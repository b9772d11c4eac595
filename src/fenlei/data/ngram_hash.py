"""Hashing of token n-grams into buckets (fasttext, textcnn's n-gram channel), torch-free so the
numpy predictor and native trainers share the exact ids the torch models compute.

One multiplier per position in the n-gram and one per order, so "a b" and "b a" and bigrams vs
trigrams differ. Every product and sum fits in int64 (ids < 2**31), so numpy and torch agree.
"""

from __future__ import annotations

import numpy as np

POSITION_PRIMES = (116_049_371, 1_000_003, 19_260_817)
ORDER_PRIME = 2_147_483_647


def flat_ngram_buckets(
    ids: np.ndarray, starts: np.ndarray, n: int, buckets: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bucket ids of every n-gram inside each text of the concatenated ``ids`` (text j holds
    ``ids[starts[j]:starts[j+1]]``), and for each n-gram the index of its text."""
    total = len(ids)
    if total < n:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    width = total - n + 1
    h = np.full(width, n * ORDER_PRIME, dtype=np.int64)
    for k in range(n):
        h += ids[k : k + width].astype(np.int64) * POSITION_PRIMES[k]
    owner = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    # an n-gram is inside a text when its last token belongs to the same text as its first
    valid = owner[:width] == owner[n - 1 :]
    return h[valid] % buckets, owner[:width][valid]
