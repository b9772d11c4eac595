"""Length-bucketed batches of encoded texts, as dicts of tensors.

Sorting by length inside large shuffled chunks keeps padding small (fast RNNs and
transformers) while batches still arrive in a random order each epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch


def collate(seqs: Sequence[np.ndarray], pad_id: int, labels: Sequence[int] | None = None) -> dict:
    """Pad id sequences into ``input_ids`` [B, T] with ``lengths`` [B] (and ``labels`` [B])."""
    lengths = np.fromiter((max(len(s), 1) for s in seqs), dtype=np.int64, count=len(seqs))
    ids = np.full((len(seqs), int(lengths.max())), pad_id, dtype=np.int64)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = seq
    batch = {"input_ids": torch.from_numpy(ids), "lengths": torch.from_numpy(lengths)}
    if labels is not None:
        batch["labels"] = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    return batch


class Batches:
    """Iterable of batch dicts over encoded texts; reshuffled per epoch with ``set_epoch``."""

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
        self._lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))

    def set_epoch(self, epoch: int) -> None:
        """Pick the shuffle order of ``epoch`` (deterministic given the seed)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return (len(self.seqs) + self.batch_size - 1) // self.batch_size

    def order(self) -> list[np.ndarray]:
        """Index arrays of each batch in the order they will be yielded this epoch."""
        n = len(self.seqs)
        if not self.shuffle:
            idx = np.argsort(-self._lengths, kind="stable") if self.bucket else np.arange(n)
            return [idx[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng((self.seed, self.epoch))
        idx = rng.permutation(n)
        if self.bucket:
            chunks = [idx[i : i + self.chunk] for i in range(0, n, self.chunk)]
            idx = np.concatenate([c[np.argsort(-self._lengths[c], kind="stable")] for c in chunks])
        batches = [idx[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
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
