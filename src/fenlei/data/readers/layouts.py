"""Corpora in their original layouts: aclImdb folders, raw CoLA, THUCNews + class.txt.

Column names do not apply to these layouts; ``label_column=None`` still drops the labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fenlei.data.readers.decoding import lines, read_text
from fenlei.data.readers.registry import READERS, SOURCES, ReadOptions, Row, config_key, fail
from fenlei.errors import DataError, brief

ACLIMDB_LABELS = ("neg", "pos")


@READERS.register("aclimdb")
def aclimdb_rows(path: Path, opts: ReadOptions) -> Iterator[Row]:
    """``<root>/<split>/{pos,neg}/*.txt`` (path = root or split folder); labels "pos"/"neg"."""
    folder = aclimdb_split_dir(path, opts.split)
    for label in ACLIMDB_LABELS:
        files = sorted((folder / label).glob("*.txt"))
        if not files:
            raise DataError(f"{folder / label}: no .txt reviews; pos/ and neg/ each need one file per review")
        for file in files:
            # reviews hold HTML line breaks; a tokenizer would otherwise see "<br" as a word
            text = read_text(file, opts.encoding, opts.split, allow_empty=True).replace("<br />", " ")
            yield 1, text, label


def aclimdb_split_dir(path: Path, split: str) -> Path:
    """The folder holding pos/ and neg/ for ``split``: ``path/split`` or ``path`` itself."""
    if not path.exists():
        raise DataError(f"{path} not found; check {config_key(split)}")
    for folder in (path / split, path):
        if all((folder / label).is_dir() for label in ACLIMDB_LABELS):
            return folder
    raise DataError(
        f"{path}: no {split}/pos and {split}/neg folders; give the aclImdb root or its {split} folder "
        "(aclImdb has train and test splits)"
    )


SOURCES["aclimdb"] = lambda path, opts: aclimdb_split_dir(path, opts.split)


@READERS.register("cola")
def cola_rows(path: Path, opts: ReadOptions) -> Iterator[Row]:
    """Raw CoLA TSV without header: ``source<TAB>label<TAB>notes<TAB>sentence``."""
    for i, line in enumerate(lines(path, opts.encoding, opts.split), 1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 4:
            raise fail(
                path, i, f"expected 4 tab-separated fields (source, label, notes, sentence), not {len(cells)}"
            )
        yield i, cells[3], cells[1]


@READERS.register("thucnews")
def thucnews_rows(path: Path, opts: ReadOptions) -> Iterator[Row]:
    """``title<TAB>class_index`` lines; ``class.txt`` beside the file names the classes in index order."""
    classes = read_class_names(path.parent / "class.txt", opts)
    for i, line in enumerate(lines(path, opts.encoding, opts.split), 1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 2:
            raise fail(path, i, f"expected 2 tab-separated fields (title, class index), found {len(cells)}")
        index = cells[1].strip()
        if not index.isdecimal():  # not isdigit: int() refuses superscripts such as "²"
            raise fail(path, i, f"class index {brief(index)!r} is not a number; each line is title<TAB>index")
        if len(index) > 9 or int(index) >= len(classes):  # the length check spares int() 5000 digits
            listed = f"class.txt lists {len(classes)} classes, numbered from 0"
            raise fail(path, i, f"class index {brief(index)} is out of range; {listed}")
        yield i, cells[0], classes[int(index)]


def read_class_names(path: Path, opts: ReadOptions) -> list[str]:
    """Class names, one a line (a missing trailing newline is fine)."""
    if not path.is_file():
        raise DataError(f"{path} not found; the thucnews format needs class.txt beside the data file")
    names = [line.strip() for line in lines(path, opts.encoding, opts.split)]
    names = [n for n in names if n]
    if len(set(names)) != len(names):
        raise DataError(f"{path}: class names repeat; each line must name a different class")
    return names
