"""Encoders turn texts into id sequences: one protocol, a registry of kinds (vocab | hf | tfidf).

A model family names the kind it takes (``TextModel.encoder_type``) and, for a pretrained
model, supplies what the encoder is built from (``TextModel.encoder_source``: a Hugging Face
tokenizer and the position limit), so this package never imports models. The same encoder
object encodes at training and at prediction time and saves itself into the run directory
(tokenizer.json says which kind to load), so the two can never drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from fenlei.errors import RunDirError
from fenlei.registry import Registry
from fenlei.rundir import TOKENIZER


@dataclass(frozen=True)
class EncoderSettings:
    """What fitting an encoder reads: the tokenizer section, the length rules, the model's source."""

    tokenizer: Any  # a TokenizerConfig
    max_length: int | str  # a number, or "auto" (data/text.py auto_length, up to length_bound)
    truncation: str = "head"
    source: Any = None  # the model family's encoder_source() (None for vocabulary encoders)
    length_bound: int = 2048  # the model family's longest input, for max_length auto
    window: int | None = None  # data.window: split long texts into windows of this many tokens
    stride: int | None = None  # data.stride: body tokens between window starts (None: window / 2)


class Encoder(Protocol):
    """Texts -> int64 id arrays; fitted on train, saved and loaded with the run."""

    encoder_type: ClassVar[str]  # its registry name, written to tokenizer.json as "type"
    streamable: ClassVar[bool]  # can encode a streamed corpus on disk
    kind: str  # the tokenizer kind it reports (word, char, jieba, hf)
    pad_id: int
    max_length: int
    window: int | None  # data.window: long texts come out as data/windows.py Windows

    @property
    def vocab_size(self) -> int: ...

    @classmethod
    def fit(cls, texts: Sequence[str], settings: EncoderSettings) -> tuple[Encoder, list]:
        """The fitted encoder and the training texts' tokens (pass them back to ``encode``)."""
        ...

    def encode(self, texts: Sequence[str] | None = None, tokens: list | None = None) -> list[np.ndarray]: ...

    def save(self, run_dir: Path) -> None: ...

    @classmethod
    def load(cls, run_dir: Path) -> Encoder: ...


ENCODERS: Registry[type[Encoder]] = Registry("encoder", RunDirError)


def _load_kinds() -> None:
    from fenlei.data import hf_encoder, tfidf_encoder, vocab_encoder  # noqa: F401  (register the kinds)


def encoder_class(kind: str) -> type[Encoder]:
    """The encoder class registered as ``kind``."""
    _load_kinds()
    return ENCODERS.get(kind)


def load_encoder(run_dir: Path) -> Encoder:
    """The encoder a run directory was trained with (tokenizer.json names its kind)."""
    path = Path(run_dir) / TOKENIZER
    kind = "vocab"  # runs made before tokenizer.json held a "type"
    if path.is_file():
        try:
            kind = json.loads(path.read_text(encoding="utf-8")).get("type", "vocab")
        except ValueError:
            raise RunDirError(f"{path}: corrupt JSON; train the run again") from None
    return encoder_class(kind).load(run_dir)
