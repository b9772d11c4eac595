"""Where the CLI's texts come from: arguments, a file, or stdin (``predict`` and ``explain``)."""

from __future__ import annotations

import sys
from pathlib import Path

from fenlei.errors import FenleiError


def read_texts(texts: list[str] | None, file: str | None, encoding: str) -> list[str]:
    """The texts given as arguments, else the lines of ``file`` ('-' = stdin), else piped stdin.

    A lone ``-`` argument also means stdin. ``encoding``: the run's data encoding, for files.
    """
    if texts and texts != ["-"]:
        return list(texts)
    if file and file != "-":
        from fenlei.data.readers.decoding import read_text, split_lines

        # the readers' decoding: .gz unpacked, BOMs dropped, a one-line error naming a bad line
        return split_lines(read_text(Path(file), encoding, "--file", allow_empty=True))
    if texts == ["-"] or file == "-" or not sys.stdin.isatty():
        return [line.rstrip("\r\n") for line in sys.stdin]
    raise FenleiError("give texts as arguments, --file FILE, or pipe them on stdin")
