"""What every reader shares: the READERS registry, options, decoding and row checks.

Readers take ``(path, ReadOptions)`` and return Examples. Errors a user can cause are
raised as one-line DataErrors that name the file and line and say what to do.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fenlei.data.examples import Examples
from fenlei.errors import DataError
from fenlei.registry import Registry


@dataclass(frozen=True)
class ReadOptions:
    """How to read one file: which columns, which encoding, which split (for folder layouts)."""

    text_column: str = "text"
    label_column: str | None = "label"
    encoding: str = "utf-8"
    split: str = "train"
    multi_label: bool = False  # a label cell holds a list (JSON list, or names joined by label_separator)
    label_separator: str = "|"


Reader = Callable[[Path, ReadOptions], Examples]
READERS: Registry[Reader] = Registry("reader", DataError)

_WIDE_CODECS = ("utf-16", "utf-32")  # NUL bytes are normal in these, so no binary check


def fail(path: Path | str, line: int | None, message: str) -> DataError:
    """A DataError whose message starts with the file (and line, if known)."""
    where = f"{path}, line {line}" if line is not None else str(path)
    return DataError(f"{where}: {message}")


def config_key(split: str) -> str:
    """The config key a user edits to point at the file of ``split``."""
    return f"data.{split}" if split in ("train", "dev", "test") else "the path"


def read_text(path: Path, encoding: str, split: str = "train", allow_empty: bool = False) -> str:
    """The whole file decoded; a UTF-8 BOM is dropped; binary, undecodable (and empty) files raise."""
    if not path.exists():
        raise DataError(f"{path} not found; check {config_key(split)}")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a file; check {config_key(split)} (or use format aclimdb)")
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        hint = "set data.encoding (e.g. utf-8, gbk, latin-1)"
        raise DataError(f"unknown encoding {encoding!r}; {hint}") from None
    data = path.read_bytes()
    if not allow_empty and not data.strip():
        raise DataError(f"{path} is empty; give a file with a header and at least one row")
    if not codec.startswith(_WIDE_CODECS) and b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise fail(
            path, line, "looks like a binary file (NUL byte); give a text file (tsv, csv, jsonl), unpacked"
        )
    if codec == "utf-8":
        codec = "utf-8-sig"  # a BOM from Excel or Notepad must not end up in the first column name
    try:
        return data.decode(codec)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        hint = "set data.encoding (e.g. gbk, latin-1)" if codec == "utf-8-sig" else "check data.encoding"
        raise fail(path, line, f"is not valid {encoding}; {hint}") from None


def split_lines(text: str) -> list[str]:
    """Lines split on LF only, CR stripped: str.splitlines would also split on U+2028 and friends."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


class RowCollector:
    """Collects (line, text, label) rows into Examples; skips empty texts, rejects empty labels.

    With a ``separator`` (multi-label reading) each label becomes a list of names; a row whose
    list is empty is counted as ``empty_label_list`` and skipped rather than fatal.
    """

    def __init__(self, path: Path, labelled: bool, separator: str | None = None) -> None:
        self.path = path
        self.texts: list[str] = []
        self.labels: list | None = [] if labelled else None
        self.empty_text = 0
        self.separator = separator
        self.empty_label_list = 0

    def add(self, line: int, text: str, label: str | list | None = None) -> None:
        """Add one row; ``line`` is the 1-based line number for error messages."""
        text = text.strip()
        if not text:
            self.empty_text += 1  # counted, not fatal: real corpora have a few blank texts
            return
        if self.labels is not None and self.separator is not None:
            from fenlei.data.multilabel import split_labels

            names = split_labels(label, self.separator)
            if not names:
                self.empty_label_list += 1
                return
            self.labels.append(names)
        elif self.labels is not None:
            label = (label or "").strip()
            if not label:
                raise fail(self.path, line, "empty label; give every row a label or delete the row")
            self.labels.append(label)
        self.texts.append(text)

    def extend(self, rows: Iterable[tuple[int, str, str | None]]) -> None:
        """Add many ``(line, text, label)`` rows."""
        for line, text, label in rows:
            self.add(line, text, label)

    def result(self) -> Examples:
        """The Examples read so far, with skip counts."""
        skipped = {"empty_text": self.empty_text} if self.empty_text else {}
        if self.empty_label_list:
            skipped["empty_label_list"] = self.empty_label_list
        return Examples(self.texts, self.labels, str(self.path), skipped)
