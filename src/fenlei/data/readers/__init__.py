"""Read a file (or folder) of labelled text, in any registered format, as rows.

Formats: tsv, csv (tabular), jsonl (jsonl), aclimdb, cola, thucnews (layouts). Every reader is
a generator of rows over its file decoded block by block (decoding); ``open_rows`` gives the
rows of one file (Rows, which a large corpus reads twice), and ``read_examples`` collects them.
"""

from __future__ import annotations

from pathlib import Path

from fenlei.data.examples import Examples
from fenlei.data.label_cells import LabelCells, ListCells, SingleCells
from fenlei.data.readers import jsonl, layouts, tabular  # noqa: F401  (registers the readers)
from fenlei.data.readers.decoding import BOMS, WIDE_CODECS, data_suffix, head_bytes, read_text, split_lines
from fenlei.data.readers.jsonl import replace_lone_surrogates
from fenlei.data.readers.registry import READERS, ReadOptions, Row, Rows, config_key, kept_rows
from fenlei.errors import DataError, brief

__all__ = [
    "BOMS",
    "READERS",
    "WIDE_CODECS",
    "LabelCells",
    "ListCells",
    "ReadOptions",
    "Row",
    "Rows",
    "SingleCells",
    "detect_format",
    "head_bytes",
    "kept_rows",
    "open_rows",
    "read_examples",
    "read_text",
    "replace_lone_surrogates",
    "split_lines",
]


def read_examples(
    path: str | Path,
    *,
    format: str = "auto",
    text_column: str = "text",
    label_column: str | None = "label",
    encoding: str = "utf-8",
    split: str = "train",
    cells: LabelCells | None = None,
) -> Examples:
    """The rows of ``path`` read as ``format`` (see open_rows) collected into Examples, with skip counts.

    ``label_column=None`` reads text only; ``cells`` parses a label cell (default: one name a row).
    """
    opts = ReadOptions(text_column, label_column, encoding, split, cells or SingleCells())
    rows = open_rows(path, opts, format=format)
    texts: list[str] = []
    labels: list = []
    add_text, add_label = texts.append, labels.append
    for _, text, label in rows:
        add_text(text)
        add_label(label)
    return Examples(texts, labels if label_column is not None else None, rows.source, rows.skipped)


def open_rows(path: str | Path, opts: ReadOptions | None = None, *, format: str = "auto") -> Rows:
    """The row source of one file: ``(line, text, label)`` rows, read again on each iteration.

    ``format`` "auto" guesses from the path (detect_format). A tsv/csv whose first row names
    neither column and that has two columns is headerless: the column with fewer distinct values
    (then: shorter values; then: the first) is the label.
    """
    path = Path(path).expanduser()
    opts = opts or ReadOptions()
    if format != "auto" and format not in READERS:
        choices = ", ".join(READERS.names())
        raise DataError(f"data.format: unknown reader {brief(format)!r}; choose auto, {choices}")
    return Rows(path, detect_format(path, opts) if format == "auto" else format, opts)


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
