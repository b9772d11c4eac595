"""Read a file (or folder) of labelled text into Examples, in any registered format.

Formats: tsv, csv, jsonl (readers_tabular), aclimdb, cola, thucnews (readers_layouts).
"""

from __future__ import annotations

from pathlib import Path

from fenlei.data import readers_layouts, readers_tabular  # noqa: F401  (registers the readers)
from fenlei.data.examples import Examples
from fenlei.data.readers_io import READERS, ReadOptions, config_key, data_suffix, head_bytes
from fenlei.errors import DataError, brief

__all__ = ["READERS", "ReadOptions", "detect_format", "read_examples"]


def read_examples(
    path: str | Path,
    *,
    format: str = "auto",
    text_column: str = "text",
    label_column: str | None = "label",
    encoding: str = "utf-8",
    split: str = "train",
    multi_label: bool = False,
    label_separator: str = "|",
) -> Examples:
    """Read ``path`` as ``format`` ("auto": see detect_format); ``label_column=None`` reads text only.

    A tsv/csv whose first row names neither column and that has two columns is headerless:
    the column with fewer distinct values (then: shorter values; then: the first) is the label.
    ``multi_label``: each label is a list of names (a JSON list, or a cell split on ``label_separator``).
    """
    path = Path(path).expanduser()
    opts = ReadOptions(text_column, label_column, encoding, split, multi_label, label_separator)
    if format != "auto" and format not in READERS:
        choices = ", ".join(READERS.names())
        raise DataError(f"data.format: unknown reader {brief(format)!r}; choose auto, {choices}")
    name = detect_format(path, opts) if format == "auto" else format
    return READERS.get(name)(path, opts)


def detect_format(path: Path, opts: ReadOptions | None = None) -> str:
    """Guess a format from the path.

    A folder is aclimdb; .jsonl/.json is jsonl; .csv is csv; .txt with a class.txt beside it
    is thucnews; anything else is tsv, or cola when its first line is headerless raw CoLA
    (four fields, the second 0 or 1). A trailing .gz is ignored: ``train.tsv.gz`` is tsv.
    """
    opts = opts or ReadOptions()
    if path.is_dir():
        return "aclimdb"
    if not path.exists():
        raise DataError(f"{path} not found; check {config_key(opts.split)}")
    suffix = data_suffix(path)
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix == ".txt" and path.name != "class.txt" and (path.parent / "class.txt").is_file():
        return "thucnews"
    return "cola" if _looks_like_raw_cola(path, opts) else "tsv"


def _looks_like_raw_cola(path: Path, opts: ReadOptions) -> bool:
    first = _first_line(path, opts.encoding)
    cells = [c.strip() for c in first.split("\t")]
    named = opts.text_column in cells or (opts.label_column is not None and opts.label_column in cells)
    return len(cells) == 4 and cells[1] in ("0", "1") and not named


def _first_line(path: Path, encoding: str) -> str:
    # only a peek: decoding problems are left for the reader, which reports them with a line number
    for raw in head_bytes(path).split(b"\n"):
        if raw.strip():
            try:
                return raw.decode(encoding, errors="replace").lstrip("\ufeff")
            except LookupError:
                return ""
    return ""
