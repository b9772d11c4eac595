"""Settings left at ``auto`` that are read off the training data once it is encoded:
``train.batch_size`` and a family's hashed n-gram buckets (``TextModel.fill_from_data``), and
the micro-batches that keep a step of long texts within the family's ``batch_tokens``.
The numbers chosen go into config.yaml, so evaluate, predict and a resumed run use them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fenlei.config import Config

# train.batch_size auto: the family's own batch (TextModel.batch_size), halved until an epoch
# has at least this many steps, never under BATCH_FLOOR: a few hundred texts still get updates
STEPS_PER_EPOCH = 50
BATCH_FLOOR = 16


def auto_batch_size(family_batch: int, n_train: int) -> int:
    """The family's batch, or a power of two small enough for STEPS_PER_EPOCH steps."""
    size = int(family_batch)
    while size > BATCH_FLOOR and n_train < STEPS_PER_EPOCH * size:
        size //= 2
    return max(size, min(BATCH_FLOOR, int(family_batch)))


def micro_batches(batch: int, accumulate: int, seq_len: int, batch_tokens: int | None) -> tuple[int, int]:
    """(batch, accumulate) with the same texts per optimiser step, split so that one pass holds
    at most ``batch_tokens`` padded tokens (``seq_len`` each): the fewest equal micro-batches."""
    if not batch_tokens or batch * seq_len <= batch_tokens:
        return batch, accumulate
    need = math.ceil(batch * seq_len / batch_tokens)
    parts = next((k for k in range(need, batch + 1) if batch % k == 0), batch)  # equal sizes
    return batch // parts, accumulate * parts


class NgramCounter:
    """Distinct n-grams of token ids in the train texts (what the models hash), counted once per
    order when a family asks; ``tokens`` None: unknown (a streamed corpus)."""

    def __init__(self, tokens: Sequence[np.ndarray] | None, vocab_size: int) -> None:
        self.tokens, self.vocab_size = tokens, vocab_size
        self._counts: dict[int, int] = {}

    def distinct(self, n: int) -> int | None:
        """How many different n-grams (2 <= n <= 3) the train texts hold; None if unknown (streamed)."""
        if self.tokens is None:
            return None
        if n not in self._counts:
            v = np.int64(self.vocab_size)
            keys = []
            for seq in self.tokens:
                s = np.asarray(seq, dtype=np.int64)
                if len(s) >= n:
                    key = s[: len(s) - n + 1].copy()
                    for k in range(1, n):
                        key = key * v + s[k : len(s) - n + 1 + k]
                    keys.append(key)
            self._counts[n] = int(len(np.unique(np.concatenate(keys)))) if keys else 0
        return self._counts[n]


def fill_auto(
    cfg: Config, family, n_train: int, train_seqs, vocab_size: int, *, batched: bool = False
) -> dict[str, object]:
    """Replace the ``auto`` values of ``cfg`` (batch size, the family's data-driven params) with
    numbers, from the train texts' ids ``train_seqs`` (None when streamed), and split a batch of
    long texts into micro-batches unless train is ``batched`` already. Returns what was chosen."""
    chosen: dict[str, object] = {}
    if cfg.train.batch_size == "auto":
        cfg.train.batch_size = auto_batch_size(family.batch_size, n_train)
        chosen["batch_size"] = cfg.train.batch_size
    seq_len = cfg.data.window or cfg.data.max_length  # a window is one row of a batch
    if isinstance(seq_len, int) and not batched:  # known once the encoder is fitted
        micro, accumulate = micro_batches(
            cfg.train.batch_size, cfg.train.accumulate, seq_len, family.batch_tokens
        )
        if micro != cfg.train.batch_size:  # same texts per step, less memory per pass
            chosen["micro_batches"] = f"{accumulate // cfg.train.accumulate} x {micro}"
            cfg.train.batch_size, cfg.train.accumulate = micro, accumulate
    filled = family.fill_from_data(dict(cfg.model.params), NgramCounter(train_seqs, vocab_size))
    chosen.update({k: v for k, v in filled.items() if cfg.model.params.get(k) != v})
    cfg.model.params = filled
    return chosen
