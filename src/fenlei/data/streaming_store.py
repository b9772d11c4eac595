"""The encoded train corpus on disk: written in one tokenising pass, read back memory-mapped.

Files in the corpus folder:
  tokens.bin   every row's token ids, int32, one row after another (raw, for mmap / np.memmap)
  offsets.npy  int64 [rows + 1]: row i is tokens[offsets[i] : offsets[i + 1]]
  labels.npy   int64 [rows]: label ids (written by streaming.py)
"""

from __future__ import annotations

import mmap
from array import array
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fenlei.data.batching import Batches
from fenlei.data.text import make_tokenizer, resolve_kind, truncate
from fenlei.data.vocab import PAD, UNK, Vocab
from fenlei.data.vocab_encoder import VocabEncoder

TOKENS, OFFSETS, LABELS = "tokens.bin", "offsets.npy", "labels.npy"
FLUSH_TOKENS = 1 << 22  # ids held before they go to disk (16 MB as int32)
LANG_SAMPLE = 500  # texts detect_language looks at to resolve tokenizer.kind auto
_EMPTY = object()  # provisional id 0: a text without tokens, which VocabEncoder.encode makes [<unk>]


class CorpusBuilder:
    """Tokenises the train texts once: ids go to disk as they come, counts build the vocabulary.

    Until the vocabulary is known, ids are provisional (first-appearance order, as Vocab.build's
    Counter keeps them); ``finish`` ranks the tokens exactly as Vocab.build does and rewrites the
    file with the final ids, so every row equals ``encoder.encode([text])[0]``.
    """

    def __init__(self, folder: Path, tok_cfg, max_length: int, truncation: str = "head") -> None:
        self.folder = Path(folder)
        self.tok_cfg = tok_cfg
        self.max_length = max_length
        self.truncation = truncation
        self.kind: str | None = None
        self._pending: list[str] = []  # texts seen before the tokenizer kind is resolved
        self._tokenizer = None
        index: defaultdict = defaultdict()
        index.default_factory = index.__len__  # an unseen token gets the next id, in C speed
        index[_EMPTY]
        self._index = index
        self._buf: list[int] = []
        self._lengths = array("q")
        self._counts = np.zeros(1, dtype=np.int64)
        self._tmp = self.folder / (TOKENS + ".provisional")
        self._file = self._tmp.open("wb")

    def __len__(self) -> int:
        return len(self._lengths) + len(self._pending)

    def add(self, text: str) -> None:
        """Encode one (stripped) train text."""
        if self._tokenizer is None:
            self._pending.append(text)
            if len(self._pending) >= LANG_SAMPLE:
                self._start()
            return
        tokens = self._tokenizer(text)
        if len(tokens) > self.max_length:
            tokens = truncate(tokens, self.max_length, self.truncation)
        ids = list(map(self._index.__getitem__, tokens)) if tokens else [0]
        self._buf += ids
        self._lengths.append(len(ids))
        if len(self._buf) >= FLUSH_TOKENS:
            self._flush()

    def finish(self) -> VocabEncoder:
        """Build the vocabulary, write tokens.bin and offsets.npy; the fitted encoder."""
        if self._tokenizer is None:
            self._start()
        self._flush()
        self._file.close()
        tokens = list(self._index)
        counts = self._counts[1:]  # id 0 (empty text) is no token
        ranked = np.argsort(-counts, kind="stable")  # stable: ties keep first appearance, as Vocab.build
        ranked = ranked[counts[ranked] >= self.tok_cfg.min_freq]
        if self.tok_cfg.max_size is not None:
            ranked = ranked[: max(0, self.tok_cfg.max_size - 2)]
        vocab = Vocab([PAD, UNK, *(tokens[1 + i] for i in ranked.tolist())])
        # lookup, not rank arithmetic: a literal "<unk>" token must map as Vocab maps it
        remap = np.fromiter((vocab.lookup(t) for t in tokens[1:]), dtype=np.int32, count=len(tokens) - 1)
        remap = np.concatenate([np.array([vocab.unk_id], dtype=np.int32), remap])
        self._index.clear()
        with self._tmp.open("rb") as src, (self.folder / TOKENS).open("wb") as out:
            # plain reads and writes, not a memmap: the rewrite must not count the file into RSS
            while (chunk := np.fromfile(src, dtype=np.int32, count=FLUSH_TOKENS)).size:
                remap[chunk].tofile(out)
        self._tmp.unlink()
        offsets = np.zeros(len(self._lengths) + 1, dtype=np.int64)
        np.cumsum(np.frombuffer(self._lengths, dtype=np.int64), out=offsets[1:])
        np.save(self.folder / OFFSETS, offsets)
        return VocabEncoder(self.kind, self.tok_cfg.lowercase, vocab, self.max_length, self.truncation)

    def _start(self) -> None:
        self.kind = resolve_kind(self.tok_cfg.kind, self._pending)
        self._tokenizer = make_tokenizer(self.kind, lowercase=self.tok_cfg.lowercase)
        pending, self._pending = self._pending, []
        for text in pending:
            self.add(text)

    def _flush(self) -> None:
        ids = np.array(self._buf, dtype=np.int32)
        ids.tofile(self._file)
        counts = np.bincount(ids, minlength=len(self._index)).astype(np.int64)
        counts[: len(self._counts)] += self._counts
        self._counts = counts
        self._buf.clear()


class TokenRows(Sequence):
    """The corpus rows: ``rows[i]`` is row i's int32 ids, a view into the memory-mapped tokens.bin."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        self.offsets = np.load(folder / OFFSETS)
        self._file = (folder / TOKENS).open("rb")
        self._mmap = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self.tokens = np.frombuffer(self._mmap, dtype=np.int32)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):
        n = len(self.offsets) - 1
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"row {i} of {n}")
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        """Ids per row (int64), from the offsets alone."""
        return np.diff(self.offsets)

    def release(self) -> None:
        """Unmap the pages read so far: they stay in the page cache, but leave this process's RSS."""
        if hasattr(mmap, "MADV_DONTNEED"):
            self._mmap.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        """Close the mapping (views handed out before must be dropped first)."""
        del self.tokens
        self._mmap.close()
        self._file.close()


class DiskBatches(Batches):
    """Batches over TokenRows: the same order, bucketing and batch dicts, rows read on demand.

    Every ``release_rows`` rows served the pages read so far are unmapped, so one epoch over a
    corpus bigger than memory does not pile the whole file up in the process's RSS. Counted in
    rows, not batches: shuffled rows each touch their own 4 KB page, so 16k rows hold at most
    ~64 MB of the file, whatever the batch size (every 256 batches of 4096 held all 640 MB of a
    2M-line corpus).
    """

    def __init__(
        self,
        rows: TokenRows,
        labels: Sequence[int] | np.ndarray,
        batch_size: int,
        pad_id: int,
        *,
        release_rows: int = 16_384,
        **options,
    ) -> None:
        """``options``: Batches' shuffle, seed, bucket and chunk_batches."""
        # Batches would measure every row through __getitem__; the offsets already know the lengths
        super().__init__([], labels, batch_size, pad_id, **options)
        self.seqs = rows
        self._lengths = rows.lengths()
        self.release_rows = release_rows
        self._served = 0  # rows served since the last release

    def batch(self, indices: np.ndarray) -> dict:
        """The batch dict holding the rows at ``indices`` (int64 ids, as Batches gives)."""
        self._served += len(indices)
        if self._served >= self.release_rows:
            self.seqs.release()
            self._served = 0
        return super().batch(indices)
