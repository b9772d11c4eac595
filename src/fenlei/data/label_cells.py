"""How a reader turns one label cell (or JSON value) into a label: a name, or a list of names.

A reader does not know the label scheme; it asks the ``LabelCells`` of its ReadOptions, which
the run's Task supplies (task.py): ``SingleCells`` for single-label data, ``ListCells`` for
multi-label data. ``parse`` returns None for a row to skip; the reader counts it under
``skip_reason``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from fenlei.errors import DataError


def cell_error(path: Path | str, line: int | None, message: str) -> DataError:
    """A DataError whose message starts with the file (and line, if known)."""
    where = f"{path}, line {line}" if line is not None else str(path)
    return DataError(f"{where}: {message}")


class LabelCells(Protocol):
    """Parses label cells for one label scheme."""

    skip_reason: str  # the Examples.skipped key of rows ``parse`` drops

    def parse(self, value: str | list | None, path: Path, line: int, column: str) -> str | list[str] | None:
        """The label of one row, or None to skip the row; bad cells raise a DataError."""
        ...


def split_labels(value: str | list | None, separator: str) -> list[str]:
    """Label names of one cell or JSON list: stripped, empty parts dropped, repeats removed, order kept."""
    if value is None:
        return []
    parts = value if isinstance(value, list) else str(value).split(separator)
    out: list[str] = []
    for part in parts:
        name = str(part).strip()
        if name and name not in out:
            out.append(name)
    return out


@dataclass(frozen=True)
class SingleCells:
    """One label name per row; an empty cell is an error, a JSON list says to set data.multi_label."""

    skip_reason: ClassVar[str] = "empty_label"

    def parse(self, value: str | list | None, path: Path, line: int, column: str) -> str:
        if isinstance(value, list):
            raise cell_error(
                path,
                line,
                f"{column!r} is a list of labels but this run is single-label; "
                "set data.multi_label: true for multi-label classification",
            )
        label = (value or "").strip()
        if not label:
            raise cell_error(path, line, "empty label; give every row a label or delete the row")
        return label


@dataclass(frozen=True)
class ListCells:
    """A list of label names per row: a JSON list, or a cell split on ``separator``.

    A row whose list is empty is skipped (counted as ``empty_label_list``), not fatal.
    """

    skip_reason: ClassVar[str] = "empty_label_list"
    separator: str = "|"

    def parse(self, value: str | list | None, path: Path, line: int, column: str) -> list[str] | None:
        if isinstance(value, list):
            if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
                raise cell_error(path, line, f"{column!r} must be a list of label names (strings)")
            value = [v if isinstance(v, str) else json.dumps(v) for v in value]
        names = split_labels(value, self.separator)
        return names or None
