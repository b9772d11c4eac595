"""Text → id sequences for the classic models: a tokenizer plus a vocabulary.

The same object encodes at training and at prediction time, and saves itself into the
run directory (tokenizer.json + vocab.json), so the two can never drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fenlei.data.encoders import ENCODERS, EncoderSettings
from fenlei.data.text import auto_length, make_tokenizer, resolve_kind, truncate
from fenlei.data.vocab import Vocab
from fenlei.errors import RunDirError
from fenlei.rundir import TOKENIZER, VOCAB

PIECE_CACHE_MAX = 200_000  # whitespace pieces whose ids encode_flat keeps


@ENCODERS.register("vocab")
class VocabEncoder:
    """Tokenise, look up ids, truncate to ``max_length`` by the ``truncation`` strategy."""

    window = None  # windows are a transformer encoder's (hf_encoder.py)

    encoder_type = "vocab"
    word_pieces = False  # explain: its ids are whole tokens
    streamable = True  # a streamed corpus is tokenised into this encoder's ids on disk

    def __init__(
        self, kind: str, lowercase: bool, vocab: Vocab, max_length: int, truncation: str = "head"
    ) -> None:
        self.kind = kind
        self.lowercase = lowercase
        self.tokenizer = make_tokenizer(kind, lowercase=lowercase)
        self.vocab = vocab
        self.max_length = max_length
        self.truncation = truncation
        self.pad_id = 0
        self._pieces: dict[str, tuple[int, ...]] = {}  # encode_flat's cache: piece -> its ids
        self._pieces_of = vocab  # the vocabulary those ids are from (extend_vocab replaces it)

    @property
    def vocab_size(self) -> int:
        """Rows the embedding table needs."""
        return len(self.vocab)

    @classmethod
    def fit(cls, texts: Sequence[str], settings: EncoderSettings) -> tuple[VocabEncoder, list[list[str]]]:
        """Build the vocabulary from training texts; also returns their tokens for reuse."""
        tok_cfg, max_length, truncation = settings.tokenizer, settings.max_length, settings.truncation
        kind = resolve_kind(tok_cfg.kind, list(texts))
        tokenizer = make_tokenizer(kind, lowercase=tok_cfg.lowercase)
        tokens = [tokenizer(t) for t in texts]
        if max_length == "auto":
            max_length = auto_length(map(len, tokens), settings.length_bound)
        tokens = [truncate(t, max_length, truncation) for t in tokens]
        vocab = Vocab.build(tokens, min_freq=tok_cfg.min_freq, max_size=tok_cfg.max_size)
        return cls(kind, tok_cfg.lowercase, vocab, max_length, truncation), tokens

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """Tokens of each text, truncated."""
        return [truncate(self.tokenizer(t), self.max_length, self.truncation) for t in texts]

    def encode(self, texts: Sequence[str] | None = None, tokens: list[list[str]] | None = None) -> list:
        """Id arrays (int64) of each text; pass ``tokens`` to skip tokenising again."""
        tokens = self.tokenize(texts) if tokens is None else tokens
        return [
            np.asarray(self.vocab.encode(t) or [self.vocab.lookup("<unk>")], dtype=np.int64) for t in tokens
        ]

    def encode_flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``encode``'s ids concatenated, with offsets (text j: ``ids[starts[j]:starts[j+1]]``):
        one array instead of one per text, for the numpy predictor's bag-of-ids forward."""
        if self.tokenizer.piecewise:
            per_text = self._piece_ids(texts)
        else:
            tokens = [t or ["<unk>"] for t in self.tokenize(texts)]
            per_text = [self.vocab.encode(t) for t in tokens]
        starts = np.zeros(len(per_text) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in per_text], out=starts[1:])
        return np.fromiter((i for ids in per_text for i in ids), np.int64, int(starts[-1])), starts

    def _piece_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids of each text, truncated, piece by whitespace piece: a plain ASCII word is looked up
        at once, any other piece's ids come from a cache (one lookup instead of a tokenizer call
        and one per token); 1.06x the texts/s of tokenising first on SST-2, in a fresh process."""
        cache = self._pieces
        if len(cache) > PIECE_CACHE_MAX or self._pieces_of is not self.vocab:  # start again
            cache.clear()
            self._pieces_of = self.vocab
        split, encode, unk = self.tokenizer.split, self.vocab.encode, self.vocab.lookup("<unk>")
        get, words_whole = self.vocab.index_get, self.tokenizer.ascii_words_whole
        lower, out = self.lowercase, []
        for text in texts:
            ids: list[int] = []
            for piece in (text.lower() if lower else text).split():
                if words_whole and piece.isascii() and piece.isalpha():
                    ids.append(get(piece, unk))
                    continue
                got = cache.get(piece)
                if got is None:
                    got = cache[piece] = tuple(encode(split(piece)))
                ids += got
            out.append(truncate(ids, self.max_length, self.truncation) if ids else [unk])
        return out

    def token_spans(self, text: str) -> tuple[list[tuple[int, int]], bool]:
        """Where in ``text`` each id of ``encode([text])[0]`` comes from ((-1, -1): nowhere, e.g.
        the <unk> of a text without tokens), and whether the text was cut to ``max_length``."""
        tokens = self.tokenizer(text)
        kept = truncate(list(range(len(tokens))), self.max_length, self.truncation)
        if not kept:
            return [(-1, -1)], False
        spans = place_tokens(text, tokens, self.lowercase)
        return [spans[i] for i in kept], len(kept) < len(tokens)

    def baseline_ids(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The attribution baseline of padded rows ``ids``: padding everywhere (a zero embedding)."""
        return np.full_like(ids, self.pad_id)

    def save(self, run_dir: Path) -> None:
        """Write tokenizer.json and vocab.json."""
        meta = {
            "type": "vocab",
            "kind": self.kind,
            "lowercase": self.lowercase,
            "max_length": self.max_length,
            "truncation": self.truncation,
        }
        (Path(run_dir) / TOKENIZER).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        self.vocab.save(Path(run_dir) / VOCAB)

    @classmethod
    def load(cls, run_dir: Path) -> VocabEncoder:
        """Read what ``save`` wrote."""
        run_dir = Path(run_dir)
        for name in (TOKENIZER, VOCAB):
            if not (run_dir / name).is_file():
                raise RunDirError(f"{run_dir}: {name} is missing; is this a fenlei run directory?")
        try:
            meta = json.loads((run_dir / TOKENIZER).read_text(encoding="utf-8"))
            vocab = Vocab.load(run_dir / VOCAB)
        except (ValueError, KeyError) as err:
            raise RunDirError(f"{run_dir}: {TOKENIZER} or {VOCAB} is corrupt ({err})") from None
        return cls(meta["kind"], meta["lowercase"], vocab, meta["max_length"], meta.get("truncation", "head"))


def place_tokens(text: str, tokens: list[str], lowercase: bool) -> list[tuple[int, int]]:
    """Character spans of ``tokens`` found in ``text`` in reading order ((-1, -1) if not found)."""
    low = text.lower() if lowercase else text
    spans, pos = [], 0
    for token in tokens:
        if len(low) == len(text):
            at = low.find(token, pos)
            end = at + len(token)
        else:  # a character whose lower case is longer (İ): offsets of the lowered text drift
            hit = re.compile(re.escape(token), re.IGNORECASE).search(text, pos)
            at, end = (hit.start(), hit.end()) if hit else (-1, 0)
        spans.append((at, end) if at >= 0 else (-1, -1))
        pos = end if at >= 0 else pos
    return spans
