"""Tokenizers: word (regex), char (Chinese), jieba (Chinese words); ``auto`` picks by language.
And ``truncate``: which tokens of a long text are kept.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from fenlei.errors import ConfigError
from fenlei.registry import Registry

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{CJK}]")
# words with inner apostrophes/hyphens, "n't" style clitics, numbers, single CJK characters,
# and every other non-space character as its own token
_WORD_RE = re.compile(rf"n't|[^\W\d_{CJK}]+(?:['’-][^\W\d_{CJK}]+)*|\d+(?:[.,]\d+)*|[{CJK}]|[^\w\s]|_")
_CHAR_RE = re.compile(rf"[{CJK}]|[A-Za-z]+|\d+|\S")

TOKENIZERS: Registry[Callable[[bool], Tokenizer]] = Registry("tokenizer", ConfigError)


class Tokenizer:
    """Splits text into tokens; ``kind`` and ``lowercase`` are all it needs to be rebuilt."""

    kind = "base"
    # No token spans whitespace and a piece's tokens do not depend on its neighbours, so the
    # tokens of a text are its whitespace pieces' tokens in turn (what a piece cache may use).
    piecewise = False
    ascii_words_whole = False  # a plain ASCII word piece is one token, itself (no split needed)

    def __init__(self, lowercase: bool = True) -> None:
        self.lowercase = lowercase

    def __call__(self, text: str) -> list[str]:
        return self.split(text.lower() if self.lowercase else text)

    def split(self, text: str) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def to_dict(self) -> dict:
        """What to save so the same tokenizer can be made again."""
        return {"kind": self.kind, "lowercase": self.lowercase}


@TOKENIZERS.register("word")
class WordTokenizer(Tokenizer):
    """Regex words (keeping "n't"), numbers, punctuation marks; CJK characters one by one."""

    kind = "word"
    piecewise = ascii_words_whole = True

    def split(self, text: str) -> list[str]:
        # No token spans whitespace, so splitting on it first gives the regex's tokens; a plain
        # ASCII word is its own token, and skipping the regex for it halves the tokenizing time.
        out: list[str] = []
        for piece in text.split():
            if piece.isascii() and piece.isalpha():
                out.append(piece)
            else:
                out.extend(_WORD_RE.findall(piece))
        return out


@TOKENIZERS.register("char")
class CharTokenizer(Tokenizer):
    """Each Han character is a token; runs of latin letters or digits stay whole (e.g. "NBA", "2024")."""

    kind = "char"

    def split(self, text: str) -> list[str]:
        return _CHAR_RE.findall(text)


@TOKENIZERS.register("jieba")
class JiebaTokenizer(Tokenizer):
    """Chinese words from jieba; whitespace tokens are dropped."""

    kind = "jieba"

    def __init__(self, lowercase: bool = True) -> None:
        super().__init__(lowercase)
        import jieba

        # jieba announces its dictionary on stderr at first use; keep the CLI output clean.
        jieba.setLogLevel(logging.WARNING)
        self._cut = jieba.lcut

    def split(self, text: str) -> list[str]:
        return [t for t in self._cut(text) if t.strip()]


def make_tokenizer(kind: str, *, lowercase: bool = True) -> Tokenizer:
    """A tokenizer of a registered kind (word, char, jieba)."""
    if kind not in TOKENIZERS:
        raise ConfigError(
            f"tokenizer.kind: unknown {kind!r}; choose one of auto, {', '.join(TOKENIZERS.names())}"
        )
    return TOKENIZERS.get(kind)(lowercase)


def detect_language(texts: list[str], sample: int = 500) -> str:
    """'zh' when most non-space characters of a sample are CJK, else 'en'."""
    chars = cjk = 0
    for text in texts[:sample]:
        for ch in text:
            if not ch.isspace():
                chars += 1
                cjk += bool(_CJK_RE.match(ch))
    return "zh" if chars and cjk / chars > 0.3 else "en"


def resolve_kind(kind: str, texts: list[str]) -> str:
    """Turn ``auto`` into char (Chinese) or word (everything else); other kinds pass through."""
    if kind == "auto":
        return "char" if detect_language(texts) == "zh" else "word"
    make_tokenizer(kind)  # validates the name
    return kind


# max_length auto never goes below this: batches are padded to their own longest text, so a
# generous length costs nothing on short texts, and texts up to it are never cut (0.1's fixed
# default, so runs that fit under it are unchanged)
AUTO_LENGTH_FLOOR = 256


def auto_length(lengths, bound: int) -> int:
    """``data.max_length: auto``: long enough for every training text (and at least
    AUTO_LENGTH_FLOOR), at most ``bound``."""
    return max(1, min(int(bound), max(AUTO_LENGTH_FLOOR, max(lengths, default=1))))


def truncate(seq: list, max_length: int, strategy: str = "head") -> list:
    """At most ``max_length`` items of ``seq``: the first, the last, or half of each (head+tail)."""
    if len(seq) <= max_length:
        return seq
    if strategy == "tail":
        return seq[len(seq) - max_length :]
    if strategy == "head+tail":
        head = (max_length + 1) // 2
        return seq[:head] + seq[len(seq) - (max_length - head) :]
    return seq[:max_length]
