"""Length-bucketed batches: every example once per epoch, deterministic, padded right."""

from __future__ import annotations

import numpy as np

from fenlei.data.batching import Batches, collate


def _seqs(n=103, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(2, 50, size=rng.integers(1, 30)) for _ in range(n)]


def test_collate_pads_and_keeps_lengths():
    batch = collate([np.array([5, 6, 7]), np.array([8])], pad_id=0, labels=[1, 0])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["lengths"].tolist() == [3, 1]
    assert batch["labels"].tolist() == [1, 0]


def test_each_example_once_and_deterministic():
    seqs = _seqs()
    b = Batches(seqs, list(range(len(seqs))), 8, 0, shuffle=True, seed=3)
    seen = np.concatenate([x["index"].numpy() for x in b])
    assert sorted(seen.tolist()) == list(range(len(seqs)))
    again = Batches(seqs, list(range(len(seqs))), 8, 0, shuffle=True, seed=3)
    assert all((x == y).all() for x, y in zip(b.order(), again.order(), strict=True))
    b.set_epoch(1)
    assert not all(len(x) == len(y) and (x == y).all() for x, y in zip(b.order(), again.order(), strict=True))


def test_bucketing_reduces_padding():
    seqs = _seqs(800)

    def padding(batches):
        return sum(int(x["input_ids"].numel() - x["lengths"].sum()) for x in batches)

    bucketed = Batches(seqs, None, 16, 0, shuffle=True, seed=0)
    plain = Batches(seqs, None, 16, 0, shuffle=True, seed=0, bucket=False)
    assert padding(bucketed) < padding(plain) / 2


def test_labels_follow_their_rows():
    seqs = _seqs(40)
    labels = [int(s[0]) for s in seqs]
    for batch in Batches(seqs, labels, 7, 0, shuffle=True, seed=1):
        assert batch["labels"].tolist() == batch["input_ids"][:, 0].tolist()
