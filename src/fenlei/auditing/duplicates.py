"""Texts that are the same, or nearly, but carry different labels.

Exact: texts equal after ``normalise`` (Unicode NFKC, case folded, punctuation and symbols
dropped, whitespace collapsed). Near: distinct normalised texts whose TF-IDF vectors of
character 3-grams have a cosine of at least ``threshold``. Comparing every pair is quadratic, so
candidate pairs come from MinHash locality-sensitive hashing (32 hashes in 8 bands of 4: pairs
whose 3-gram sets overlap by Jaccard 0.8 are found 98% of the time, 0.5 40%, 0.3 6%) and only
they are scored; a crowded bucket is chained, not paired out. The cost is linear in the
characters compared (the first NEAR_CHARS of each text) and bounded on 200k texts.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

NEAR_CHARS = 256  # characters of each normalised text that near-duplicate detection compares
NGRAM = 3
HASHES, BANDS = 32, 8  # MinHash signature length, and the LSH bands it is cut into
BUCKET_PAIRS = 40  # a bucket with more texts pairs each with the next only (chained)
_FEATURES = 2**22
_SPACES = re.compile(r"\s+")


@dataclass
class Conflict:
    """Texts (row indices) that look like one text but carry different labels."""

    kind: str  # "exact" or "near"
    rows: list[int]
    similarity: float  # 1.0 for exact; for near, the lowest cosine on the pairs that joined them


def normalise(text: str) -> str:
    """``text`` as duplicates are compared: NFKC, case folded, no punctuation or symbols, one space."""
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text)
    return _SPACES.sub(" ", kept).strip()


def find_conflicts(texts: list[str], labels: list[str], threshold: float = 0.9) -> list[Conflict]:
    """Exact and near duplicates with more than one label, largest groups first.

    ``threshold``: the cosine from which two distinct texts count as near duplicates; None or 1
    skips near duplicates (exact ones only).
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        groups[normalise(text)].append(i)
    keys = list(groups)
    members = [groups[k] for k in keys]
    out = [Conflict("exact", rows, 1.0) for rows in members if len(rows) > 1 and _labels(rows, labels) > 1]
    if threshold is not None and threshold < 1.0:
        for reps, sim in near_groups([k[:NEAR_CHARS] for k in keys], threshold):
            rows = sorted(i for r in reps for i in members[r])
            label_sets = {frozenset(labels[i] for i in members[r]) for r in reps}
            if _labels(rows, labels) > 1 and len(label_sets) > 1:  # not only an exact group's quarrel
                out.append(Conflict("near", rows, sim))
    out.sort(key=lambda c: (-len(c.rows), c.kind, c.rows[0]))
    return out


def _labels(rows: list[int], labels: list[str]) -> int:
    return len({labels[i] for i in rows})


def near_groups(texts: list[str], threshold: float, seed: int = 0) -> list[tuple[list[int], float]]:
    """Groups (indices into ``texts``, lowest joining cosine) of texts whose character 3-gram
    TF-IDF cosine reaches ``threshold``, found through MinHash LSH candidates."""
    from scipy.sparse.csgraph import connected_components
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    if len(texts) < 2:
        return []
    hasher = HashingVectorizer(
        analyzer="char", ngram_range=(NGRAM, NGRAM), n_features=_FEATURES, alternate_sign=False, norm=None
    )
    counts = hasher.transform(texts).tocsr()
    counts.sort_indices()
    pairs = candidate_pairs(minhash(counts, seed), counts.getnnz(axis=1) > 0)
    if not len(pairs):
        return []
    vectors = TfidfTransformer(sublinear_tf=True).fit_transform(counts).tocsr()
    sims = pair_cosines(vectors, pairs)
    keep = sims >= threshold
    pairs, sims = pairs[keep], sims[keep]
    if not len(pairs):
        return []
    from scipy.sparse import coo_matrix

    n = len(texts)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    lowest: dict[int, float] = {}
    for (a, _b), s in zip(pairs, sims, strict=True):
        c = int(component[a])
        lowest[c] = min(lowest.get(c, 1.0), float(s))
    by_component: dict[int, list[int]] = defaultdict(list)
    for i in np.flatnonzero(np.isin(component, list(lowest))):
        by_component[int(component[i])].append(int(i))
    return [(rows, lowest[c]) for c, rows in by_component.items()]


def minhash(counts, seed: int = 0, chunk_ids: int = 2**18) -> np.ndarray:
    """MinHash signatures [N, HASHES] (uint32) of each row's set of n-gram ids (CSR, sorted);
    ``chunk_ids`` n-gram ids are hashed at a time (their HASHES values take 8 bytes each)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=HASHES, dtype=np.uint64) | np.uint64(1)  # odd multipliers
    b = rng.integers(0, 2**63, size=HASHES, dtype=np.uint64)
    n = counts.shape[0]
    sig = np.full((n, HASHES), np.iinfo(np.uint32).max, dtype=np.uint32)
    nnz = np.diff(counts.indptr)
    chunk = max(1, chunk_ids // max(1, int(nnz.max(initial=1))))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        lo, hi = counts.indptr[start], counts.indptr[stop]
        if lo == hi:
            continue
        ids = counts.indices[lo:hi].astype(np.uint64)
        # multiply-shift hashing: the high 32 bits of (a * x + b) mod 2**64
        values = ((ids[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)).astype(np.uint32)
        rows = np.flatnonzero(nnz[start:stop]) + start
        offsets = counts.indptr[rows] - lo
        sig[rows] = np.minimum.reduceat(values, offsets, axis=0)
    return sig


def candidate_pairs(sig: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Pairs [M, 2] (i < j) of rows that share all the hashes of at least one band."""
    per_band = HASHES // BANDS
    found = []
    rows_all = np.flatnonzero(usable)
    for band in range(BANDS):
        part = sig[rows_all, band * per_band : (band + 1) * per_band].astype(np.uint64)
        key = np.zeros(len(rows_all), dtype=np.uint64)
        for col in range(per_band):  # a polynomial mix of the band's hashes (wraps mod 2**64)
            key = key * np.uint64(0x100000001B3) + part[:, col]
        order = np.argsort(key, kind="stable")
        sorted_keys = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        sizes = np.diff(np.r_[starts, len(order)])
        for start, size in zip(starts[sizes > 1], sizes[sizes > 1], strict=True):
            bucket = rows_all[order[start : start + size]]
            if size <= BUCKET_PAIRS:
                i, j = np.triu_indices(size, k=1)
                found.append(np.stack([bucket[i], bucket[j]], axis=1))
            else:
                found.append(np.stack([bucket[:-1], bucket[1:]], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.sort(np.concatenate(found), axis=1)
    return np.unique(pairs, axis=0)


def pair_cosines(vectors, pairs: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Cosine of each pair of L2-normalised sparse rows."""
    out = np.empty(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), chunk):
        part = pairs[start : start + chunk]
        prod = vectors[part[:, 0]].multiply(vectors[part[:, 1]])
        out[start : start + len(part)] = np.asarray(prod.sum(axis=1)).ravel()
    return out
