"""Column files: tsv and csv (a header row names the columns).

A file whose first row names neither column and that has exactly two columns is read as
headerless ``label<TAB>text`` or ``text<TAB>label``: the column with fewer distinct values
is the label; on a tie, the one with the shorter average length; on a full tie, the first.
Picking it takes a pass over the file before the rows are read.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path

from fenlei.data.readers.decoding import csv_lines, lines
from fenlei.data.readers.registry import READERS, ReadOptions, Row, fail
from fenlei.errors import DataError, brief_list

Record = tuple[int, list[str]]  # (1-based line the record starts on, cells)
# no field is longer than the file: the csv module's 128 KB default would refuse a long review
# (2**31 - 1: the largest limit a C long takes everywhere)
CSV_FIELD_LIMIT = 2**31 - 1
_CSV_BATCH = 1024  # records parsed under the raised field limit before it is put back


@READERS.register("tsv")
def tsv_rows(path: Path, opts: ReadOptions) -> Iterator[Row]:
    """Tab-separated text; quotes are ordinary characters (SST-2 texts hold stray quotes)."""

    def records() -> Iterator[Record]:
        for i, line in enumerate(lines(path, opts.encoding, opts.split), 1):
            if line.strip():
                yield i, line.split("\t")

    return table_rows(path, opts, records, "tab")


@READERS.register("csv")
def csv_rows(path: Path, opts: ReadOptions) -> Iterator[Row]:
    """Comma-separated text with standard double-quote quoting (fields may span lines).

    A quote that is never closed is an error naming the line it opens on (the lenient csv
    module would swallow the rest of the file into one field); stray quotes inside unquoted
    fields are read as ordinary characters.
    """
    return table_rows(path, opts, lambda: csv_records(path, opts), "comma")


def csv_records(path: Path, opts: ReadOptions) -> Iterator[Record]:
    """The non-blank records, read with strict quoting unless a stray quote makes that fail: then
    leniently, from the record after the ones already given (both modes agree up to the error)."""
    given = 0
    try:
        for record in _csv_parse(path, opts, strict=True):
            yield record
            given += 1
        return
    except _StrayQuote:
        pass
    for n, record in enumerate(_csv_parse(path, opts, strict=False)):
        if n >= given:
            yield record


class _StrayQuote(Exception):
    """Strict quoting failed on something other than a quote left open at the end."""


def _csv_parse(path: Path, opts: ReadOptions, strict: bool) -> Iterator[Record]:
    reader = csv.reader(csv_lines(path, opts.encoding, opts.split), strict=strict)
    start = 1
    error: Exception | None = None
    done = False
    while not done:
        batch: list[Record] = []
        # the limit is global: raised only while this reader parses, so that no other reader
        # (nor one of these left half read) sees it changed
        limit = csv.field_size_limit(CSV_FIELD_LIMIT)
        try:
            for cells in reader:
                if any(c.strip() for c in cells):
                    batch.append((start, cells))
                start = reader.line_num + 1
                if len(batch) == _CSV_BATCH:
                    break
            else:
                done = True
        except (csv.Error, DataError) as err:  # the records before it come first
            error, done = err, True
        finally:
            csv.field_size_limit(limit)
        yield from batch
    if isinstance(error, DataError):
        raise error
    if isinstance(error, csv.Error):
        if "end of data" in str(error):  # strict mode's only word for a quote still open at the end
            unclosed = "a quoted field opens here and never closes; close or remove the quote"
            raise fail(path, start, unclosed) from None
        if strict:
            raise _StrayQuote from None
        raise fail(path, start, f"cannot parse CSV ({error}); check for an unbalanced quote") from None


def table_rows(
    path: Path, opts: ReadOptions, records: Callable[[], Iterator[Record]], sep: str
) -> Iterator[Row]:
    """(line, text cell, label cell) of each record, the columns picked by the header's names or,
    headerless, by the rule above (``records`` is called once more for that)."""
    rows = records()
    first = next(rows, None)
    if first is None:
        raise fail(path, None, "is empty; give a file with a header and at least one row")
    header = [c.strip() for c in first[1]]
    wanted = [opts.text_column] + ([opts.label_column] if opts.label_column else [])
    if any(name in header for name in wanted):
        for name, setting in zip(wanted, ("data.text_column", "data.label_column"), strict=False):
            if name not in header:
                found = brief_list(header)
                raise fail(path, 1, f"no column {name!r} (columns found: {found}); set {setting}")
        width, names = len(header), header
        text_i = header.index(opts.text_column)
        label_i = header.index(opts.label_column) if opts.label_column else None
        body = rows
    elif len(header) == 2 or (len(header) == 1 and opts.label_column is None):
        width, names = len(header), None
        label_i = None
        if width == 2:
            label_i = _label_column(path, chain([first], rows), opts, sep)
            rows = records()
        text_i = 0 if width == 1 else 1 - label_i
        if opts.label_column is None:
            label_i = None
        body = rows if width == 2 else chain([first], rows)
    else:
        names = f"{opts.text_column!r}" + (f" / {opts.label_column!r}" if opts.label_column else "")
        raise fail(
            path,
            1,
            f"no column {names} in the header (columns found: {brief_list(header)}); "
            "set data.text_column / data.label_column",
        )
    count = 0
    for line, cells in body:
        if len(cells) != width:
            raise _width_error(path, line, len(cells), width, sep, names)
        count += 1
        yield line, cells[text_i], None if label_i is None else cells[label_i]
    if not count:
        raise fail(path, None, "has a header but no rows")


def _width_error(
    path: Path, line: int, found: int, width: int, sep: str, header: list[str] | None
) -> DataError:
    names = f" ({brief_list(header)})" if header else ""
    hint = (
        "a text may hold a tab: remove it, or quote the field and use format csv"
        if sep == "tab"
        else "quote fields that hold commas"
    )
    return fail(path, line, f"expected {width} {sep}-separated fields{names}, found {found}; {hint}")


def _label_column(path: Path, rows: Iterator[Record], opts: ReadOptions, sep: str) -> int:
    """Index (0 or 1) of the label column of a headerless two-column file, from every row's
    hashes (16 bytes a row, not its text); a row of another width raises."""
    from array import array

    import numpy as np

    hashes, lengths = (array("q"), array("q")), [0, 0]
    first: list[str] = []
    for line, cells in rows:
        if len(cells) != 2:
            raise _width_error(path, line, len(cells), 2, sep, None)
        for i in (0, 1):
            value = cells[i].strip()
            hashes[i].append(hash(value))
            lengths[i] += len(value)
        first = first or [c.strip() for c in cells]
    columns = [np.frombuffer(h, dtype=np.int64) for h in hashes]
    scores = [(len(np.unique(c)), total / len(c)) for c, total in zip(columns, lengths, strict=True)]
    label_i = 0 if scores[0] <= scores[1] else 1
    # a header with other names ("review<TAB>sentiment") would otherwise become a one-row class
    head, rest = columns[label_i][0], columns[label_i][1:]
    if len(rest) >= 4 and not (rest == head).any() and len(np.unique(rest)) <= len(rest) / 2:
        raise fail(
            path,
            1,
            f"first row ({brief_list(first)}) looks like a header without a "
            f"{opts.text_column!r}/{opts.label_column or 'label'!r} column; set data.text_column / "
            "data.label_column (or, if it is data, add a header line 'label<TAB>text')",
        )
    return label_i
