"""JSON Lines: one JSON object per line, the text and label by key (a file holding one JSON array
of objects also works; that file is parsed whole, as JSON must be).

A label value goes to the label cells as written in JSON: a string, a number or boolean as its
JSON text (1 -> "1", true -> "true"), null as "", or a list (the cells decide whether a list
is allowed). Unpaired surrogates in strings become U+FFFD.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from fenlei.data.readers.decoding import lines, read_text
from fenlei.data.readers.registry import READERS, ReadOptions, Row, fail
from fenlei.errors import brief_list

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@READERS.register("jsonl")
def jsonl_rows(path: Path, opts: ReadOptions) -> Iterator[Row]:
    """One JSON object per line (a file holding one JSON array of objects also works)."""
    records = 0
    source = lines(path, opts.encoding, opts.split)
    for i, line in enumerate(source, 1):
        if not line.strip():
            continue
        if not records and line.lstrip().startswith("["):
            source.close()
            yield from record_rows(path, _json_array(path, opts), opts)
            return
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise fail(path, i, f"invalid JSON ({err.msg}); each line must be one JSON object") from None
        records += 1
        yield record_row(path, i, obj, opts)
    if not records:
        raise fail(path, None, "has no JSON records")


def _json_array(path: Path, opts: ReadOptions) -> Iterator[tuple[int, object]]:
    text = read_text(path, opts.encoding, opts.split)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise fail(path, err.lineno, f"invalid JSON ({err.msg})") from None
    if not isinstance(data, list):
        raise fail(path, 1, "expected a JSON array of objects or one JSON object per line")
    if not data:
        raise fail(path, None, "has no JSON records")
    return enumerate(data, 1)  # "line" here is the record number


def record_rows(path: Path, records: Iterable[tuple[int, object]], opts: ReadOptions) -> Iterator[Row]:
    """``record_row`` of each ``(line, JSON value)``."""
    for line, obj in records:
        yield record_row(path, line, obj, opts)


def record_row(path: Path, line: int, obj: object, opts: ReadOptions) -> Row:
    """(line, text, label value) of one JSON record; a DataError naming the line if it has no such keys."""
    if not isinstance(obj, dict):
        raise fail(path, line, f"expected a JSON object, got {type(obj).__name__}")
    text = field_text(path, line, obj, opts.text_column, "data.text_column")
    if opts.label_column is None:
        return line, text, None
    value = obj.get(opts.label_column)
    if not isinstance(value, list):
        return line, text, field_text(path, line, obj, opts.label_column, "data.label_column")
    value = [replace_lone_surrogates(v) if isinstance(v, str) else v for v in value]
    if not text.strip():
        # the row is skipped for its empty text, but a list this label scheme refuses is still
        # an error, as it is on every other row
        opts.cells.parse(value, path, line, opts.label_column)
    return line, text, value


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


def replace_lone_surrogates(text: str) -> str:
    """``text`` with unpaired UTF-16 surrogates replaced by U+FFFD.

    JSON may escape half a pair ("\\ud83d" of a cut emoji); such a string cannot be written
    as UTF-8, so it would fail at the first file write or JSON response instead of here.
    """
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)  # ASCII: nothing to replace
