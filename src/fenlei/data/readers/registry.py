"""What every reader shares: ReadOptions, the READERS registry, and Rows, the row source of one file.

A reader is a generator ``(path, ReadOptions) -> (line, text, label cell)`` over its file, which
it decodes block by block (decoding.py). Rows applies the row rules that every format shares:
a text is stripped and an empty one skipped, a label cell is parsed by ``ReadOptions.cells``
(which may skip the row), and the skips are counted. Reading into memory is collecting Rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fenlei.data.label_cells import LabelCells, SingleCells
from fenlei.errors import DataError
from fenlei.registry import Registry

# (1-based line, text, label). From a reader: the text as in the file and the raw label cell
# (None when unlabelled); from Rows: the stripped text and the parsed label.
Row = tuple[int, str, "str | list | None"]


@dataclass(frozen=True)
class ReadOptions:
    """How to read one file: which columns, which encoding, which split, how to parse label cells."""

    text_column: str = "text"
    label_column: str | None = "label"  # None reads the texts only
    encoding: str = "utf-8"
    split: str = "train"  # names the config key in "not found" messages; picks a folder layout's split
    cells: LabelCells = SingleCells()  # the label scheme's parser of one label cell


Reader = Callable[[Path, ReadOptions], Iterator[Row]]
READERS: Registry[Reader] = Registry("reader", DataError)
# where the rows of a format come from when that is not the path itself (a folder layout's split)
SOURCES: dict[str, Callable[[Path, ReadOptions], Path]] = {}


def fail(path: Path | str, line: int | None, message: str) -> DataError:
    """A DataError whose message starts with the file (and line, if known)."""
    where = f"{path}, line {line}" if line is not None else str(path)
    return DataError(f"{where}: {message}")


def config_key(split: str) -> str:
    """The config key a user edits to point at the file of ``split``."""
    return f"data.{split}" if split in ("train", "dev", "test") else "the path"


class Rows:
    """The kept rows of one file, ``(line, text, label)`` in file order; each iteration reads it again.

    ``skipped`` counts the rows a pass dropped, by reason (``empty_text``, and the label cells'
    ``skip_reason``), once the pass is complete. Errors are the reader's, raised at the row they
    concern.
    """

    def __init__(self, path: str | Path, format: str, opts: ReadOptions | None = None) -> None:
        self.path = Path(path)
        self.format = format
        self.opts = opts or ReadOptions()
        self.reader = READERS.get(format)
        self.skipped: dict[str, int] = {}

    @property
    def source(self) -> str:
        """What the rows are read from, as Examples.source names it."""
        where = SOURCES.get(self.format)
        return str(where(self.path, self.opts) if where else self.path)

    def __iter__(self) -> Iterator[Row]:
        self.skipped = {}
        return kept_rows(self.reader(self.path, self.opts), self.path, self.opts, self.skipped)


def kept_rows(
    rows: Iterable[Row], path: Path | str, opts: ReadOptions, skipped: dict[str, int]
) -> Iterator[Row]:
    """The row rules over a reader's rows: texts stripped, empty ones and the cells' skips counted
    into ``skipped`` (empty_text first), labels parsed; None labels when ``label_column`` is None."""
    empty = dropped = 0
    try:
        if opts.label_column is None:
            for line, text, _ in rows:
                text = text.strip()
                if text:
                    yield line, text, None
                else:
                    empty += 1  # counted, not fatal: real corpora have a few blank texts
            return
        parse, column = opts.cells.parse, opts.label_column
        for line, text, cell in rows:
            text = text.strip()
            if not text:
                empty += 1
                continue
            label = parse(cell, path, line, column)
            if label is None:
                dropped += 1
                continue
            yield line, text, label
    finally:
        if empty:
            skipped["empty_text"] = empty
        if dropped:
            skipped[opts.cells.skip_reason] = dropped
