"""Readers for column files: tsv, csv (header row, columns by name) and jsonl (keys by name).

A file whose first row names neither column and that has exactly two columns is read as
headerless ``label<TAB>text`` or ``text<TAB>label``: the column with fewer distinct values
is the label; on a tie, the one with the shorter average length; on a full tie, the first.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from fenlei.data.examples import Examples
from fenlei.data.readers_io import (
    READERS,
    ReadOptions,
    RowCollector,
    fail,
    read_text,
    replace_lone_surrogates,
    split_lines,
)
from fenlei.errors import brief_list

Row = tuple[int, list[str]]  # (1-based line number, cells)


@READERS.register("tsv")
def read_tsv(path: Path, opts: ReadOptions) -> Examples:
    """Tab-separated text; quotes are ordinary characters (SST-2 texts hold stray quotes)."""
    lines = split_lines(read_text(path, opts.encoding, opts.split))
    rows = [(i + 1, line.split("\t")) for i, line in enumerate(lines) if line.strip()]
    return table_examples(path, rows, opts, "tab")


@READERS.register("csv")
def read_csv(path: Path, opts: ReadOptions) -> Examples:
    """Comma-separated text with standard double-quote quoting (fields may span lines).

    A quote that is never closed is an error naming the line it opens on (the lenient csv
    module would swallow the rest of the file into one field); stray quotes inside unquoted
    fields are read as ordinary characters.
    """
    text = read_text(path, opts.encoding, opts.split)
    # no field is longer than the file: the module's 128 KB default would refuse a long review
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        try:
            rows = _csv_rows(path, text, strict=True)
        except csv.Error:  # a stray quote inside a field (it "quoted" start): read it leniently
            rows = _csv_rows(path, text, strict=False)
    finally:
        csv.field_size_limit(limit)
    return table_examples(path, rows, opts, "comma")


def _csv_rows(path: Path, text: str, strict: bool) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=strict)
    rows: list[Row] = []
    start = 1
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as err:
        if "end of data" in str(err):  # strict mode's only word for a quote still open at the end
            unclosed = "a quoted field opens here and never closes; close or remove the quote"
            raise fail(path, start, unclosed) from None
        if strict:
            raise
        raise fail(path, start, f"cannot parse CSV ({err}); check for an unbalanced quote") from None
    return rows


@READERS.register("jsonl")
def read_jsonl(path: Path, opts: ReadOptions) -> Examples:
    """One JSON object per line (a file holding one JSON array of objects also works)."""
    text = read_text(path, opts.encoding, opts.split)
    if text.lstrip().startswith("["):
        records = _json_array(path, text)
    else:
        records = []
        for i, line in enumerate(split_lines(text), 1):
            if not line.strip():
                continue
            try:
                records.append((i, json.loads(line)))
            except json.JSONDecodeError as err:
                raise fail(path, i, f"invalid JSON ({err.msg}); each line must be one JSON object") from None
    if not records:
        raise fail(path, None, "has no JSON records")
    rows = RowCollector(path, opts.label_column is not None, separator_of(opts))
    for line, obj in records:
        if not isinstance(obj, dict):
            raise fail(path, line, f"expected a JSON object, got {type(obj).__name__}")
        text_value = field_text(path, line, obj, opts.text_column, "data.text_column")
        label = None
        if opts.label_column is not None:
            label = label_field(path, line, obj, opts)
        rows.add(line, text_value, label)
    return rows.result()


def _json_array(path: Path, text: str) -> list[tuple[int, object]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise fail(path, err.lineno, f"invalid JSON ({err.msg})") from None
    if not isinstance(data, list):
        raise fail(path, 1, "expected a JSON array of objects or one JSON object per line")
    return [(i, obj) for i, obj in enumerate(data, 1)]  # "line" here is the record number


def separator_of(opts: ReadOptions) -> str | None:
    """The multi-label separator of a label cell, or None for single-label data."""
    return opts.label_separator if opts.multi_label else None


def label_field(path: Path, line: int, obj: dict, opts: ReadOptions) -> str | list:
    """The label value: a string, or (multi-label) a JSON list of names."""
    value = obj.get(opts.label_column)
    if not isinstance(value, list):
        return field_text(path, line, obj, opts.label_column, "data.label_column")
    if not opts.multi_label:
        raise fail(
            path,
            line,
            f"{opts.label_column!r} is a list of labels but this run is single-label; "
            "set data.multi_label: true for multi-label classification",
        )
    if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        raise fail(path, line, f"{opts.label_column!r} must be a list of label names (strings)")
    return [replace_lone_surrogates(v) if isinstance(v, str) else json.dumps(v) for v in value]


def field_text(path: Path, line: int, obj: dict, key: str, setting: str) -> str:
    """A JSON object's ``key`` as text; a DataError naming the line and ``setting`` when absent."""
    if key not in obj:
        found = brief_list(obj) or "(none)"
        raise fail(path, line, f"no key {key!r} (keys found: {found}); set {setting}")
    value = obj[key]
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise fail(path, line, f"{key!r} must be a string or number, not {type(value).__name__}")
    if isinstance(value, str):
        return replace_lone_surrogates(value)
    return json.dumps(value)  # as written in the file: 1 -> "1", 1.5 -> "1.5", true -> "true"


def table_examples(path: Path, rows: list[Row], opts: ReadOptions, sep: str) -> Examples:
    """Pick the text/label columns (by header name or by the headerless rule) and collect rows."""
    if not rows:
        raise fail(path, None, "is empty; give a file with a header and at least one row")
    header = [c.strip() for c in rows[0][1]]
    wanted = [opts.text_column] + ([opts.label_column] if opts.label_column else [])
    if any(name in header for name in wanted):
        for name, setting in zip(wanted, ("data.text_column", "data.label_column"), strict=False):
            if name not in header:
                found = brief_list(header)
                raise fail(path, 1, f"no column {name!r} (columns found: {found}); set {setting}")
        body, width = rows[1:], len(header)
        text_i = header.index(opts.text_column)
        label_i = header.index(opts.label_column) if opts.label_column else None
        if not body:
            raise fail(path, None, "has a header but no rows")
        check_width(path, body, width, sep, header)
    elif len(header) == 2 or (len(header) == 1 and opts.label_column is None):
        body, width = rows, len(header)
        check_width(path, body, width, sep, None)
        label_i = _guess_label_column(path, body, opts) if width == 2 else None
        text_i = 0 if width == 1 else 1 - label_i
        if opts.label_column is None:
            label_i = None
    else:
        names = f"{opts.text_column!r}" + (f" / {opts.label_column!r}" if opts.label_column else "")
        raise fail(
            path,
            1,
            f"no column {names} in the header (columns found: {brief_list(header)}); "
            "set data.text_column / data.label_column",
        )
    collected = RowCollector(path, label_i is not None, separator_of(opts))
    for line, cells in body:
        collected.add(line, cells[text_i], None if label_i is None else cells[label_i])
    return collected.result()


def check_width(path: Path, rows: list[Row], width: int, sep: str, header: list[str] | None) -> None:
    """Raise a DataError at the first row whose cell count differs from ``width``."""
    for line, cells in rows:
        if len(cells) != width:
            names = f" ({brief_list(header)})" if header else ""
            hint = (
                "a text may hold a tab: remove it, or quote the field and use format csv"
                if sep == "tab"
                else "quote fields that hold commas"
            )
            found = f"expected {width} {sep}-separated fields{names}, found {len(cells)}"
            raise fail(path, line, f"{found}; {hint}")


def _guess_label_column(path: Path, rows: list[Row], opts: ReadOptions) -> int:
    """Index (0 or 1) of the label column of a headerless two-column file."""
    columns = [[cells[i].strip() for _, cells in rows] for i in (0, 1)]

    def score(values: list[str]) -> tuple[int, float]:
        return len(set(values)), sum(map(len, values)) / len(values)

    label_i = 0 if score(columns[0]) <= score(columns[1]) else 1
    # a header with other names ("review<TAB>sentiment") would otherwise become a one-row class
    first, rest = columns[label_i][0], columns[label_i][1:]
    if len(rest) >= 4 and first not in rest and len(set(rest)) <= len(rest) / 2:
        raise fail(
            path,
            1,
            f"first row ({brief_list(c[0] for c in columns)}) looks like a header without a "
            f"{opts.text_column!r}/{opts.label_column or 'label'!r} column; set data.text_column / "
            "data.label_column (or, if it is data, add a header line 'label<TAB>text')",
        )
    return label_i
