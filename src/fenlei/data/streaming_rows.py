"""Read a tsv/csv/jsonl file a chunk of rows at a time, by the in-memory readers' rules.

The readers (readers_tabular) decode a whole file, then parse it. Here the bytes are decoded
block by block and the rows parsed in chunks with the readers' own helpers (``table_examples``,
``RowCollector``, ``field_text``), so a file larger than memory gives the same rows. A row's
error comes from those helpers, word for word. A file's error (encoding, binary, gzip, CSV
quoting) is the in-memory reader's own when the file is small enough to read whole
(DELEGATE_BYTES); past that it is this module's, naming the file and line just as well.
UTF-16/32 files and JSON arrays cannot be streamed and say so. A headerless two-column file
takes one extra pass (the reader picks its label column from all rows, here from hashes),
and so does a csv file (the reader's choice between strict and lenient quoting).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import gzip
import json
import zlib
from array import array
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import numpy as np

from fenlei.data.examples import Examples
from fenlei.data.readers_io import BOMS, READERS, WIDE_CODECS, ReadOptions, RowCollector, fail, read_text
from fenlei.data.readers_tabular import check_width, field_text, label_field, separator_of, table_examples
from fenlei.errors import DataError, brief_list

BLOCK = 1 << 23  # bytes decoded at a time: big enough for speed, small next to the file
CHUNK_ROWS = 20_000  # rows parsed into one Examples
DELEGATE_BYTES = 16 << 20  # files up to this size get the in-memory reader's error message
CSV_FIELD_LIMIT = 64 << 20  # the csv module's 128 KB default would refuse a long review
_SYNTHETIC = ("\0text", "\0label")  # column names of the header made up for a headerless file

Row = tuple[int, list[str]]


def iter_lines(path: Path, encoding: str, split: str = "train") -> Iterator[str]:
    """Decoded lines without their LF (a CR stays); what read_text refuses raises, by line."""
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        codec = None
    if codec is None or not path.is_file():
        read_text(path, encoding, split)  # raises the reader's "not found", "is a folder", "unknown encoding"
    with _open(path) as f:
        block = _read(f, path)
        if codec == "utf-8":  # as read_text: a BOM picks the codec, and a UTF-8 BOM is dropped
            codec = next((name for bom, name in BOMS if block.startswith(bom)), "utf-8-sig")
        if codec.startswith(WIDE_CODECS):
            raise DataError(
                f"{path}: a {codec} file cannot be streamed; convert it to utf-8 "
                f"(iconv -f {codec} -t utf-8) or set data.streaming: false"
            )
        decoder = codecs.getincrementaldecoder(codec)()
        newlines, content, cr_only, pending = 0, False, None, ""
        while block:
            content = content or bool(block.strip())
            if b"\x00" in block:
                line = newlines + block.count(b"\n", 0, block.index(b"\x00")) + 1
                raise fail(
                    path, line, "looks like a binary file (NUL byte); give a text file (tsv, csv, jsonl)"
                )
            buffered = decoder.getstate()[0]
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as err:
                raise _decode_error(path, buffered + block, err, encoding, newlines) from None
            if cr_only is None:  # split_lines: CR but no LF at all is a classic Mac file
                cr_only = "\n" not in text and "\r" in text.rstrip("\r")
            if cr_only:
                text = text.replace("\r", "\n")
            lines = (pending + text).split("\n")
            pending = lines.pop()
            yield from lines
            newlines += block.count(b"\n")
            block = _read(f, path)
        buffered = decoder.getstate()[0]
        try:
            pending += decoder.decode(b"", final=True)
        except UnicodeDecodeError as err:  # a multi-byte character cut off by the end of the file
            raise _decode_error(path, buffered, err, encoding, newlines) from None
        if not content:
            raise DataError(f"{path} is empty; give a file with a header and at least one row")
        if pending:
            yield pending


class RowReader:
    """The kept rows of one labelled tsv/csv/jsonl file as chunks of Examples, in file order."""

    def __init__(self, path: Path, fmt: str, opts: ReadOptions, chunk_rows: int | None = None) -> None:
        if opts.label_column is None or opts.multi_label:
            raise ValueError("RowReader reads single-label files")
        self.path = path
        self.fmt = fmt
        self.opts = opts
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        self.skipped: dict[str, int] = {}  # rows dropped by the readers' policy, after a full pass
        self._label_i: int | None = None  # headerless: the label column, once picked
        self._csv_strict: bool | None = None  # csv: strict quoting, once checked

    def chunks(self) -> Iterator[Examples]:
        """Examples of up to ``chunk_rows`` kept rows each; ``skipped`` is complete at the end."""
        self.skipped = {}
        try:
            for ex in self._jsonl() if self.fmt == "jsonl" else self._table():
                for reason, count in ex.skipped.items():
                    self.skipped[reason] = self.skipped.get(reason, 0) + count
                yield ex
        except DataError as err:
            raise self._reader_error(err) from None

    def _reader_error(self, own: DataError) -> DataError:
        """The in-memory reader's error for a file it can read whole (it may name an earlier row)."""
        try:
            if self.path.stat().st_size > DELEGATE_BYTES:
                return own
            READERS.get(self.fmt)(self.path, self.opts)
        except DataError as err:
            return err
        except OSError:
            pass
        return own  # only streaming refuses it (a JSON array, UTF-16)

    # ------------------------------------------------------------------ tsv / csv
    def _table(self) -> Iterator[Examples]:
        sep = "tab" if self.fmt == "tsv" else "comma"
        rows = self._rows()
        first = next(rows, None)
        if first is None:
            table_examples(self.path, [], self.opts, sep)  # raises "is empty"
            return
        header = [c.strip() for c in first[1]]
        opts = self.opts
        if any(name in header for name in (opts.text_column, opts.label_column)):
            head, body = first, rows
        elif len(header) == 2:
            if self._label_i is None:
                self._label_i = self._pick_label_column(first, rows, sep)
                rows = self._rows()
                first = next(rows)
            # the rows go through table_examples as if under a header naming the picked columns
            names = list(_SYNTHETIC) if self._label_i == 1 else list(reversed(_SYNTHETIC))
            head, body = (0, names), chain([first], rows)
            opts = dataclasses.replace(opts, text_column=_SYNTHETIC[0], label_column=_SYNTHETIC[1])
        else:
            table_examples(self.path, [first], opts, sep)  # raises "no column ... in the header"
            return
        batch: list[Row] = []
        seen = 0
        for row in body:
            batch.append(row)
            if len(batch) == self.chunk_rows:
                yield table_examples(self.path, [head, *batch], opts, sep)
                seen, batch = seen + len(batch), []
        if batch or not seen:  # no rows at all under a header raises the reader's "no rows"
            yield table_examples(self.path, [head, *batch], opts, sep)

    def _rows(self) -> Iterator[Row]:
        """(line, cells) of the non-blank rows, as read_tsv / read_csv number them."""
        if self.fmt == "tsv":
            for i, line in enumerate(iter_lines(self.path, self.opts.encoding, self.opts.split), 1):
                line = line[:-1] if line.endswith("\r") else line
                if line.strip():
                    yield i, line.split("\t")
            return
        if self._csv_strict is None:  # read_csv reads strictly unless a stray quote makes that fail
            self._csv_strict = all(cells is not None for _, cells in self._csv_rows(strict=True, check=True))
        yield from self._csv_rows(self._csv_strict)

    def _csv_rows(self, strict: bool, check: bool = False) -> Iterator[tuple[int, list[str] | None]]:
        """read_csv's rows; with ``check``, a parse error ends them with a ``(line, None)`` row."""
        lines = iter_lines(self.path, self.opts.encoding, self.opts.split)
        reader = csv.reader((line + "\n" for line in lines), strict=strict)
        limit = csv.field_size_limit(CSV_FIELD_LIMIT)
        start = 1
        try:
            for cells in reader:
                if any(c.strip() for c in cells):
                    yield start, cells
                start = reader.line_num + 1
        except csv.Error as err:
            if strict and "end of data" in str(err):  # strict mode's only word for a quote left open
                unclosed = "a quoted field opens here and never closes; close or remove the quote"
                raise fail(self.path, start, unclosed) from None
            if check:
                yield start, None
                return
            raise fail(self.path, start, f"cannot parse CSV ({err}); check for an unbalanced quote") from None
        finally:
            csv.field_size_limit(limit)

    def _pick_label_column(self, first: Row, rest: Iterator[Row], sep: str) -> int:
        """readers_tabular._guess_label_column over every row, holding 16 bytes a row."""
        hashes, lengths = (array("q"), array("q")), [0, 0]
        for line, cells in chain([first], rest):
            check_width(self.path, [(line, cells)], 2, sep, None)
            for i in (0, 1):
                value = cells[i].strip()
                hashes[i].append(hash(value))
                lengths[i] += len(value)
        columns = [np.frombuffer(h, dtype=np.int64) for h in hashes]
        scores = [(len(np.unique(c)), total / len(c)) for c, total in zip(columns, lengths, strict=True)]
        label_i = 0 if scores[0] <= scores[1] else 1
        head, rest_h = columns[label_i][0], columns[label_i][1:]
        if len(rest_h) >= 4 and not (rest_h == head).any() and len(np.unique(rest_h)) <= len(rest_h) / 2:
            o = self.opts
            raise fail(
                self.path,
                1,
                f"first row ({brief_list(c.strip() for c in first[1])}) looks like a header without a "
                f"{o.text_column!r}/{o.label_column or 'label'!r} column; set data.text_column / "
                "data.label_column (or, if it is data, add a header line 'label<TAB>text')",
            )
        return label_i

    # ------------------------------------------------------------------ jsonl
    def _jsonl(self) -> Iterator[Examples]:
        path, opts = self.path, self.opts
        rows = RowCollector(path, True, separator_of(opts))
        records = 0
        for i, line in enumerate(iter_lines(path, opts.encoding, opts.split), 1):
            line = line[:-1] if line.endswith("\r") else line
            if not line.strip():
                continue
            if not records and line.lstrip().startswith("["):
                raise DataError(
                    f"{path}: a JSON array cannot be streamed; write one JSON object per line "
                    "(JSONL), or set data.streaming: false"
                )
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise fail(path, i, f"invalid JSON ({err.msg}); each line must be one JSON object") from None
            if not isinstance(obj, dict):
                raise fail(path, i, f"expected a JSON object, got {type(obj).__name__}")
            text = field_text(path, i, obj, opts.text_column, "data.text_column")
            rows.add(i, text, label_field(path, i, obj, opts))
            records += 1
            if records % self.chunk_rows == 0:
                yield rows.result()
                rows = RowCollector(path, True, separator_of(opts))
        if not records:
            raise fail(path, None, "has no JSON records")
        yield rows.result()


def _open(path: Path):
    try:
        if path.suffix.lower() != ".gz":
            return path.open("rb")
        with path.open("rb") as f:
            if f.read(2) != b"\x1f\x8b":
                raise fail(path, None, "is named .gz but is not gzip data; rename it without .gz")
        return gzip.open(path, "rb")
    except OSError as err:
        raise DataError(f"{path} cannot be read ({err.strerror or err}); check the file") from None


def _read(f, path: Path) -> bytes:
    try:
        return f.read(BLOCK)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        why = f"gzip data is truncated or corrupt ({err}); compress or download it again"
        raise fail(path, None, why) from None
    except OSError as err:
        raise DataError(f"{path} cannot be read ({err.strerror or err}); check the file") from None


def _decode_error(
    path: Path, data: bytes, err: UnicodeDecodeError, encoding: str, newlines: int
) -> DataError:
    """An undecodable byte, at its line: ``data`` is the block, ``newlines`` the LFs before it."""
    line = newlines + data.count(b"\n", 0, err.start) + 1
    hint = "set data.encoding (e.g. gbk, latin-1), or convert the file to one encoding (e.g. with iconv)"
    return fail(path, line, f"is not valid {err.encoding} (data.encoding is {encoding!r}); {hint}")
