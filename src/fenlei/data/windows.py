"""Long documents as overlapping windows (``data.window``, ``data.stride``) for transformers.

A document whose tokens do not fit one window becomes a ``Windows``: the id arrays of windows
``stride`` body tokens apart, each with the model's special tokens around it, the last one
ending at the document's end (data.stride is the step: window - stride tokens overlap).
``collate`` (batching.py) flattens a batch's windows into rows and adds ``windows`` [B], how
many rows each document has; the model pools the rows' logits back into one row per document
(models/window_pooling.py). The same encoder object makes the windows at training,
evaluation and prediction time, so every path sees the same windows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# data.max_length auto with windows: documents are read up to this many tokens (16 windows of
# 512, 64 of 128 with half overlap); a 5-million-character log file is not read to the end.
WINDOWED_LENGTH_BOUND = 8192


class Windows(list):
    """One document's windows: a list of int64 id arrays, in reading order."""

    @property
    def tokens(self) -> int:
        """The ids of all windows together (overlaps counted twice)."""
        return sum(len(w) for w in self)


def split_windows(
    prefix: list[int], body: list[int], suffix: list[int], window: int, stride: int
) -> np.ndarray | Windows:
    """``body`` in windows of ``window`` ids (special tokens included), starts ``stride`` body
    tokens apart; a body that fits one window stays one plain array."""
    room = max(1, window - len(prefix) - len(suffix))
    if len(body) <= room:
        return np.asarray(prefix + body + suffix, dtype=np.int64)
    starts = window_starts(len(body), room, stride)
    return Windows(np.asarray(prefix + body[s : s + room] + suffix, dtype=np.int64) for s in starts)


def window_starts(body: int, room: int, stride: int) -> list[int]:
    """Where each window of a ``body``-token document starts (``room`` body tokens per window);
    ``[0]`` when it fits one window."""
    if body <= room:
        return [0]
    step = max(1, min(stride, room))
    last = body - room
    starts = list(range(0, last, step))
    # the last window ends where the document ends; one that would start just after the one
    # before it takes that one's place instead, when no token falls between them
    if len(starts) > 1 and last - starts[-1] < step / 2 and last - starts[-2] <= room:
        starts[-1] = last
    else:
        starts.append(last)
    return starts


def token_count(seq: np.ndarray | Sequence) -> int:
    """Tokens of an encoded text: its length, or a windowed document's ids in all windows."""
    return seq.tokens if isinstance(seq, Windows) else len(seq)


def window_count(seq: np.ndarray | Sequence) -> int:
    """Rows an encoded text takes in a batch: 1, or its number of windows."""
    return len(seq) if isinstance(seq, Windows) else 1
