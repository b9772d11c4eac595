"""Vocabulary: tokens ↔ ids with <pad>=0 and <unk>=1, built from training tokens."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

PAD, UNK = "<pad>", "<unk>"


class Vocab:
    """An ordered token list; unknown tokens map to <unk>."""

    def __init__(self, tokens: list[str]) -> None:
        if tokens[:2] != [PAD, UNK]:
            tokens = [PAD, UNK] + [t for t in tokens if t not in (PAD, UNK)]
        self.tokens = tokens
        self._index = {t: i for i, t in enumerate(tokens)}
        self.unk_id = 1

    @classmethod
    def build(
        cls, token_lists: Iterable[list[str]], *, min_freq: int = 1, max_size: int | None = None
    ) -> Vocab:
        """Most frequent first (ties by first appearance), at least ``min_freq``, capped at ``max_size``."""
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        # Counter keeps first-appearance order, and sorted() is stable: ties stay deterministic.
        ranked = [t for t, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= min_freq]
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]
        return cls([PAD, UNK, *ranked])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def lookup(self, token: str) -> int:
        """Id of ``token`` (the <unk> id when unknown)."""
        return self._index.get(token, self.unk_id)

    @property
    def index_get(self):
        """``dict.get`` of the token -> id map, for loops that look up one token at a time."""
        return self._index.get

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens``."""
        get = self._index.get
        return [get(t, 1) for t in tokens]

    def oov_rate(self, token_lists: Iterable[list[str]]) -> float:
        """Share of running tokens that are not in the vocabulary."""
        total = unknown = 0
        for tokens in token_lists:
            total += len(tokens)
            unknown += sum(t not in self._index for t in tokens)
        return unknown / total if total else 0.0

    def save(self, path: str | Path) -> None:
        """Write ``{"tokens": [...]}`` as JSON."""
        Path(path).write_text(
            json.dumps({"tokens": self.tokens}, ensure_ascii=False) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read what ``save`` wrote."""
        return cls(json.loads(Path(path).read_text(encoding="utf-8"))["tokens"])
