"""Text → id sequences with a pretrained model's own (Hugging Face) tokenizer.

The tokenizer runs once over each split (its fast Rust batch path); sequences keep their real
length and are padded per batch, so nothing is padded to ``max_length``. The body of a long
text is cut by the configured strategy and the model's special tokens ([CLS] ... [SEP],
<s> ... </s>) are put back around it, so the model never sees more positions than it has.
With ``data.window`` a text keeps up to ``max_length`` body tokens and is split into
overlapping windows of ``window`` positions each (data/windows.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fenlei.data.encoders import ENCODERS, EncoderSettings
from fenlei.data.text import auto_length, truncate
from fenlei.data.windows import WINDOWED_LENGTH_BOUND, Windows, split_windows, window_starts
from fenlei.errors import ConfigError, RunDirError
from fenlei.rundir import HF_DIR, TOKENIZER


@ENCODERS.register("hf")
class HFEncoder:
    """A Hugging Face tokenizer plus fenlei's truncation; saved as ``hf/`` + ``tokenizer.json``."""

    encoder_type = "hf"
    word_pieces = True  # explain: its ids are pieces of words, merged back into words
    kind = "hf"
    streamable = False  # a streamed corpus holds a fenlei vocabulary's ids

    def __init__(
        self,
        tokenizer,
        max_length: int,
        truncation: str = "head",
        window: int | None = None,
        stride: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            # GPT-style tokenizers have none; any existing special token works because padded
            # positions are masked out of attention and pooling.
            fallback = tokenizer.eos_token or tokenizer.sep_token or tokenizer.unk_token
            if fallback is not None:
                tokenizer.pad_token = fallback
            else:
                tokenizer.add_special_tokens({"pad_token": "[PAD]"})
        limit = tokenizer.model_max_length
        if window is None and limit and limit < 1_000_000:  # windows let a document run past it
            max_length = min(max_length, limit)
        self.max_length = max_length
        self.truncation = truncation
        self.window = window
        self.stride = stride or (window // 2 if window else None)
        self.pad_id = int(tokenizer.pad_token_id)
        self.prefix, self.suffix = _special_layout(tokenizer)

    @property
    def vocab_size(self) -> int:
        """Ids the tokenizer can produce (added tokens included)."""
        return len(self.tokenizer)

    @classmethod
    def fit(cls, texts: Sequence[str], settings: EncoderSettings) -> tuple[HFEncoder, list[np.ndarray]]:
        """The model's tokenizer (``settings.source``: the tokenizer and the model's position limit);
        returns it and the training texts' ids (tokenised once)."""
        tokenizer, positions = settings.source
        window, stride = settings.window, settings.stride
        if window is not None and window > positions:  # (stride vs window: DataConfig checks it)
            raise ConfigError(
                f"data.window {window} is longer than the model's {positions} positions; "
                f"set data.window to at most {positions}"
            )
        # without windows a text is one input, bounded by the positions; with windows the
        # document is read up to WINDOWED_LENGTH_BOUND tokens, window by window
        bound = min(positions, settings.length_bound) if window is None else WINDOWED_LENGTH_BOUND
        max_length = settings.max_length
        if max_length == "auto":  # the longest text with its special tokens, within the bound
            probe = cls(tokenizer, positions, settings.truncation)
            longest = probe.body_lengths(texts)
            max_length = auto_length((n + len(probe.prefix) + len(probe.suffix) for n in longest), bound)
        elif window is None:
            max_length = min(max_length, bound)
        encoder = cls(tokenizer, max_length, settings.truncation, window, stride)
        return encoder, encoder.encode(texts)

    def body_lengths(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text without special tokens (no truncation)."""
        texts = [str(t) for t in texts]
        if not texts:
            return []
        ids = self.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return [len(x) for x in ids]

    def encode(
        self, texts: Sequence[str] | None = None, tokens: list | None = None
    ) -> list[np.ndarray | Windows]:
        """Id arrays (int64) with special tokens, at most ``max_length`` long, or a long text's
        ``Windows`` when windows are on; ``tokens`` = already done."""
        if tokens is not None:
            return tokens
        texts = [str(t) for t in texts]
        if not texts:
            return []
        body = self.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        room = max(1, self.max_length - len(self.prefix) - len(self.suffix))
        if self.window is not None:
            return [
                split_windows(
                    self.prefix, truncate(ids, room, self.truncation), self.suffix, self.window, self.stride
                )
                for ids in body
            ]
        return [
            np.asarray(self.prefix + truncate(ids, room, self.truncation) + self.suffix, dtype=np.int64)
            for ids in body
        ]

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's ids as read (up to ``max_length``, special tokens once), before any windows."""
        texts = [str(t) for t in texts]
        if not texts:
            return []
        body = self.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        room = max(1, self.max_length - len(self.prefix) - len(self.suffix))
        return [self.prefix + truncate(ids, room, self.truncation) + self.suffix for ids in body]

    def token_spans(self, text: str) -> tuple[list[tuple[int, int]], bool]:
        """Character spans of each id of ``tokenize([text])[0]`` (special tokens: (-1, -1)) and
        whether the text was cut to ``max_length``; windows are cut from this sequence."""
        enc = self.tokenizer(
            str(text), add_special_tokens=False, truncation=False, return_offsets_mapping=True, verbose=False
        )
        offsets = [_trimmed(text, a, b) for a, b in enc["offset_mapping"]]
        room = max(1, self.max_length - len(self.prefix) - len(self.suffix))
        kept = [offsets[i] for i in truncate(list(range(len(offsets))), room, self.truncation)]
        none = [(-1, -1)]
        return none * len(self.prefix) + kept + none * len(self.suffix), len(kept) < len(offsets)

    def baseline_ids(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The attribution baseline of padded rows ``ids``: each row's special tokens where they
        are, padding in place of the text."""
        base = np.full_like(ids, self.pad_id)
        pre, suf = len(self.prefix), len(self.suffix)
        for row, n in enumerate(lengths):
            base[row, :pre] = ids[row, :pre]
            base[row, n - suf : n] = ids[row, n - suf : n]
        return base

    def window_starts(self, body: int) -> list[int]:
        """Where each window of a text with ``body`` tokens starts in its body ([0]: no windows)."""
        if self.window is None:
            return [0]
        return window_starts(body, max(1, self.window - len(self.prefix) - len(self.suffix)), self.stride)

    def save(self, run_dir: Path) -> None:
        """The tokenizer files into ``hf/`` and fenlei's settings into ``tokenizer.json``."""
        run_dir = Path(run_dir)
        self.tokenizer.save_pretrained(run_dir / HF_DIR)
        meta = {"type": "hf", "max_length": self.max_length, "truncation": self.truncation}
        if self.window is not None:
            meta.update(window=self.window, stride=self.stride)
        (run_dir / TOKENIZER).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, run_dir: Path) -> HFEncoder:
        """Read what ``save`` wrote."""
        from transformers import AutoTokenizer

        run_dir = Path(run_dir)
        try:
            meta = json.loads((run_dir / TOKENIZER).read_text(encoding="utf-8"))
            tokenizer = AutoTokenizer.from_pretrained(run_dir / HF_DIR)
        except (OSError, ValueError, KeyError) as err:
            raise RunDirError(
                f"{run_dir}: the Hugging Face tokenizer in {HF_DIR}/ cannot be loaded ({err})"
            ) from None
        return cls(
            tokenizer,
            meta["max_length"],
            meta.get("truncation", "head"),
            meta.get("window"),
            meta.get("stride"),
        )


def _special_layout(tokenizer) -> tuple[list[int], list[int]]:
    """The special-token ids the tokenizer puts before and after a text's own ids."""
    plain = tokenizer("hello", add_special_tokens=False)["input_ids"]
    full = tokenizer("hello")["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return list(full[:start]), list(full[start + len(plain) :])
    return [], []  # a tokenizer that rewrites the text around specials: add none ourselves


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """A piece's span without the spaces some tokenizers (sentencepiece's "▁") count in it."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else (-1, -1)
