"""What every reader shares: the READERS registry, options, decoding and row checks.

Readers take ``(path, ReadOptions)`` and return Examples. Errors a user can cause are
raised as one-line DataErrors that name the file and line and say what to do.
"""

from __future__ import annotations

import codecs
import gzip
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fenlei.data.examples import Examples
from fenlei.errors import DataError, brief
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

WIDE_CODECS = ("utf-16", "utf-32")  # NUL bytes are normal in these, so no binary check
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def fail(path: Path | str, line: int | None, message: str) -> DataError:
    """A DataError whose message starts with the file (and line, if known)."""
    where = f"{path}, line {line}" if line is not None else str(path)
    return DataError(f"{where}: {message}")


def config_key(split: str) -> str:
    """The config key a user edits to point at the file of ``split``."""
    return f"data.{split}" if split in ("train", "dev", "test") else "the path"


def read_text(path: Path, encoding: str, split: str = "train", allow_empty: bool = False) -> str:
    """The whole file decoded (a .gz file unpacked first); binary, undecodable (and empty) files raise.

    A UTF-8 BOM is dropped. Under the default utf-8, a UTF-16/32 BOM picks that codec (Windows
    Notepad's "Unicode" files); a NUL byte anywhere else means the file is not text.
    """
    if not path.exists():
        raise DataError(f"{path} not found; check {config_key(split)}")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a file; check {config_key(split)} (or use format aclimdb)")
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        hint = "set data.encoding (e.g. utf-8, gbk, latin-1)"
        raise DataError(f"unknown encoding {brief(encoding)!r}; {hint}") from None
    data = read_bytes(path)
    if not allow_empty and not data.strip():
        raise DataError(f"{path} is empty; give a file with a header and at least one row")
    if codec == "utf-8":
        # a UTF-8 BOM from Excel or Notepad must not end up in the first column name
        codec = next((name for bom, name in BOMS if data.startswith(bom)), "utf-8-sig")
    if not codec.startswith(WIDE_CODECS) and b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        what = _packed(data) or "looks like a binary file (NUL byte); give a text file (tsv, csv, jsonl)"
        raise fail(path, line, what)
    try:
        return data.decode(codec)
    except UnicodeDecodeError as err:
        raise fail(path, data.count(b"\n", 0, err.start) + 1, _decode_hint(data, err, encoding)) from None


def read_bytes(path: Path) -> bytes:
    """The file's bytes; a ``.gz`` file comes back unpacked, a truncated or corrupt one raises."""
    try:
        data = path.read_bytes()
    except OSError as err:  # permissions, a FIFO, a file removed under us
        raise DataError(f"{path} cannot be read ({err.strerror or err}); check the file") from None
    if path.suffix.lower() != ".gz":
        return data
    if not data.startswith(b"\x1f\x8b"):
        raise fail(path, None, "is named .gz but is not gzip data; rename it without .gz")
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        why = f"gzip data is truncated or corrupt ({err}); compress or download it again"
        raise fail(path, None, why) from None


def head_bytes(path: Path, size: int = 65536) -> bytes:
    """Up to ``size`` bytes from the start of the file (unpacked if .gz); b"" if it cannot be read.

    Only for guessing a format: the reader reports what is wrong, with a line number.
    """
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read(size)
        with path.open("rb") as f:
            return f.read(size)
    except (OSError, EOFError, zlib.error):
        return b""


def data_suffix(path: Path) -> str:
    """The suffix that names the format: ``.tsv`` for both ``a.tsv`` and ``a.tsv.gz``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def replace_lone_surrogates(text: str) -> str:
    """``text`` with unpaired UTF-16 surrogates replaced by U+FFFD.

    JSON may escape half a pair ("\\ud83d" of a cut emoji); such a string cannot be written
    as UTF-8, so it would fail at the first file write or JSON response instead of here.
    """
    return _LONE_SURROGATE.sub("\ufffd", text)


def split_lines(text: str) -> list[str]:
    """Lines split on LF only, CR stripped: str.splitlines would also split on U+2028 and friends.

    A file with CR but no LF at all has classic Mac line ends, and is split on CR instead.
    """
    if "\n" not in text and "\r" in text.rstrip("\r"):
        text = text.replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# the BOMs that mean a wide encoding; UTF-32-LE's begins with UTF-16-LE's, so it is tried first
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_MAGIC = (
    (b"\x1f\x8b", "is a binary gzip file; name it .gz (fenlei unpacks .gz files) or unpack it"),
    (b"PK\x03\x04", "is a binary zip archive; unpack it and give the file inside"),
    (b"BZh", "is a binary bzip2 file; unpack it (bunzip2)"),
    (b"\xfd7zXZ\x00", "is a binary xz file; unpack it (unxz)"),
)


def _packed(data: bytes) -> str | None:
    """What to say about an archive or compressed file given where text was expected."""
    return next((what for magic, what in _MAGIC if data.startswith(magic)), None)


def _decode_hint(data: bytes, err: UnicodeDecodeError, encoding: str) -> str:
    """What to do about bytes that ``encoding`` cannot decode."""
    if err.encoding.startswith("utf-8"):
        packed = _packed(data)
        if packed:
            return packed
        start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        if not data[start : err.start].isascii():
            # earlier lines held multi-byte UTF-8 that decoded: no one encoding reads this file
            return (
                "is not valid utf-8, though earlier lines are: the file mixes encodings; convert "
                "every line to one encoding (e.g. with iconv) and set data.encoding to it"
            )
        return "is not valid utf-8; set data.encoding (e.g. gbk, latin-1)"
    return f"is not valid {err.encoding} (data.encoding is {brief(encoding)!r}); check data.encoding"


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
