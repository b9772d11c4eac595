"""Length-bucketed batches of encoded texts, as dicts of tensors.

Sorting by length inside large shuffled chunks keeps padding small (fast RNNs and
transformers) while batches still arrive in a random order each epoch. A long document cut
into windows (data/windows.py) takes one row per window; ``windows`` [B] says how many.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from fenlei.data.windows import Windows, token_count, window_count


def collate(seqs: Sequence[np.ndarray], pad_id: int, labels: Sequence[int] | None = None) -> dict:
    """Pad id sequences into ``input_ids`` [R, T] with ``lengths`` [R] (and ``labels`` [B]).

    R = B, one row per text, unless some text is a ``Windows``: then its windows are rows of
    their own, in order, and ``windows`` [B] holds each text's number of rows.
    """
    counts = None
    if any(isinstance(s, Windows) for s in seqs):
        counts = np.fromiter((len(s) if isinstance(s, Windows) else 1 for s in seqs), np.int64, len(seqs))
        seqs = [w for s in seqs for w in (s if isinstance(s, Windows) else (s,))]
    lengths = np.fromiter((max(len(s), 1) for s in seqs), dtype=np.int64, count=len(seqs))
    ids = np.full((len(seqs), int(lengths.max())), pad_id, dtype=np.int64)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = seq
    batch = {"input_ids": torch.from_numpy(ids), "lengths": torch.from_numpy(lengths)}
    if counts is not None:
        batch["windows"] = torch.from_numpy(counts)
    if labels is not None:
        batch["labels"] = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    return batch


# the batch keys with one entry per row (a window, or a whole text) rather than per text
ROW_KEYS = ("input_ids", "lengths")


def batch_texts(batch: dict) -> int:
    """Texts in a batch (windows of one document count once)."""
    counts = batch.get("windows")
    if counts is not None:
        return int(counts.shape[0])
    return int((batch["labels"] if "labels" in batch else batch["input_ids"]).shape[0])


def repeat_batch(batch: dict, times: int = 2) -> dict:
    """The batch ``times`` over, back to back: texts [0, B) and [B, 2B) ... are the same (R-Drop)."""
    texts = batch_texts(batch)
    rows = int(batch["input_ids"].shape[0]) if "input_ids" in batch else texts

    def per_item(key: str, v) -> bool:
        if not isinstance(v, torch.Tensor) or not v.dim():
            return False
        return v.shape[0] == (rows if key in ROW_KEYS else texts)

    return {k: torch.cat([v] * times) if per_item(k, v) else v for k, v in batch.items()}


class Batches:
    """Iterable of batch dicts over encoded texts; reshuffled per epoch with ``set_epoch``.

    With windowed documents ``batch_size`` counts rows (windows), so that a batch of long
    documents costs what a batch of short texts does; a document longer than that is a batch alone.
    """

    def __init__(
        self,
        seqs: Sequence[np.ndarray],
        labels: Sequence[int] | None,
        batch_size: int,
        pad_id: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        bucket: bool = True,
        chunk_batches: int = 50,
    ) -> None:
        self.seqs = seqs
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.batch_size = batch_size
        self.pad_id = pad_id
        self.shuffle = shuffle
        self.seed = seed
        self.bucket = bucket
        self.chunk = batch_size * chunk_batches
        self.epoch = 0
        self._lengths = np.fromiter((token_count(s) for s in seqs), dtype=np.int64, count=len(seqs))
        rows = np.fromiter((window_count(s) for s in seqs), dtype=np.int64, count=len(seqs))
        self._rows = rows if len(rows) and rows.max() > 1 else None  # None: one row per text

    def set_epoch(self, epoch: int) -> None:
        """Pick the shuffle order of ``epoch`` (deterministic given the seed)."""
        self.epoch = epoch

    def __len__(self) -> int:
        if self._rows is not None:  # the count varies a little with the epoch's order
            return len(self.order())
        return (len(self.seqs) + self.batch_size - 1) // self.batch_size

    def _cut(self, idx: np.ndarray) -> list[np.ndarray]:
        """``idx`` in consecutive batches: batch_size texts, or batch_size rows when windowed."""
        if self._rows is None:
            return [idx[i : i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        out, start, rows = [], 0, 0
        for pos, r in enumerate(self._rows[idx]):
            if rows and rows + r > self.batch_size:
                out.append(idx[start:pos])
                start, rows = pos, 0
            rows += int(r)
        if start < len(idx):
            out.append(idx[start:])
        return out

    def order(self) -> list[np.ndarray]:
        """Index arrays of each batch in the order they will be yielded this epoch."""
        n = len(self.seqs)
        if not self.shuffle:
            idx = np.argsort(-self._lengths, kind="stable") if self.bucket else np.arange(n)
            return self._cut(idx)
        rng = np.random.default_rng((self.seed, self.epoch))
        idx = rng.permutation(n)
        if self.bucket:
            chunks = [idx[i : i + self.chunk] for i in range(0, n, self.chunk)]
            idx = np.concatenate([c[np.argsort(-self._lengths[c], kind="stable")] for c in chunks])
        batches = self._cut(idx)
        rng.shuffle(batches)
        return batches

    def batch(self, indices: np.ndarray) -> dict:
        """The batch dict holding the rows at ``indices``."""
        labels = None if self.labels is None else self.labels[indices]
        batch = collate([self.seqs[i] for i in indices], self.pad_id, labels)
        batch["index"] = torch.as_tensor(indices, dtype=torch.int64)
        return batch

    def __iter__(self) -> Iterator[dict]:
        for indices in self.order():
            yield self.batch(indices)
