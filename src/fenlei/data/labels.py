"""LabelMap: the fixed order of class names that model outputs index into."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from fenlei.errors import DataError, brief, brief_list

# integer-like labels sort as numbers; past 18 digits they are ids or noise, and int() of a
# 5000-digit string raises, so those sort as strings
_INT = re.compile(r"[+-]?\d{1,18}")
_SHOWN = 20  # label names listed in an error message before "..."
# More classes than this is refused: the output layer, the per-class metrics and every
# prediction's probability row grow with it, and such a label column is usually an id or text.
MAX_CLASSES = 10_000


def check_class_count(labels: Iterable[str], source: str = "train") -> None:
    """Raise a DataError when ``labels`` hold more than MAX_CLASSES distinct values."""
    labels = list(labels)
    distinct = len(set(labels))
    if distinct <= MAX_CLASSES:
        return
    why = (
        "most labels occur once: is data.label_column an id or text column?"
        if distinct > len(labels) / 2
        else "merge rare classes, or keep the most frequent ones"
    )
    raise DataError(
        f"{source or 'train'}: {distinct:,} distinct labels, more than the {MAX_CLASSES:,} classes fenlei "
        f"trains; {why}"
    )


class LabelMap:
    """Class names <-> ids. Built from train labels with ``fit``; saved as ``labels.json``."""

    def __init__(self, names: Sequence[str]) -> None:
        names = [str(n) for n in names]
        if len(set(names)) != len(names):
            raise ValueError(f"label names repeat: {names}")
        self._names = names
        self._ids = {name: i for i, name in enumerate(names)}

    @classmethod
    def fit(cls, labels: Iterable[str] | None) -> LabelMap:
        """Classes of the train labels, in a stable order.

        Integer-like labels ("0", "1", "10") sort numerically, so id == int(label) for the usual
        0..C-1 labels; any other set sorts as strings. Fewer than two classes is an error.
        """
        if labels is None:
            raise DataError("train has no labels; set data.label_column to the column that holds them")
        labels = list(labels)
        distinct = set(labels)
        if not distinct:
            raise DataError("train has no labelled examples")
        if len(distinct) == 1:
            only = next(iter(distinct))
            raise DataError(f"train has only one class {brief(only)!r}; a classifier needs at least two")
        check_class_count(labels)
        if all(_INT.fullmatch(x) for x in distinct):
            return cls(sorted(distinct, key=lambda x: (int(x), x)))
        return cls(sorted(distinct))

    @property
    def names(self) -> list[str]:
        """Class names in id order."""
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, label: object) -> bool:
        return label in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelMap) and other._names == self._names

    def __repr__(self) -> str:
        return f"LabelMap({self._names!r})"

    def encode(
        self, labels: Sequence[str] | None, *, unseen: str = "error", source: str = ""
    ) -> tuple[list[int], list[int]]:
        """Ids of ``labels`` and the indices kept; unseen labels raise ("error") or are dropped ("skip")."""
        if unseen not in ("error", "skip"):
            raise ValueError(f"unseen must be 'error' or 'skip', not {unseen!r}")
        where = source or "data"
        if labels is None:
            raise DataError(f"{where}: has no labels; set data.label_column to the column that holds them")
        ids: list[int] = []
        kept: list[int] = []
        for i, label in enumerate(labels):
            idx = self._ids.get(label)
            if idx is not None:
                ids.append(idx)
                kept.append(i)
        if unseen == "error" and len(kept) != len(labels):
            counts = Counter(x for x in labels if x not in self._ids)
            label, n = counts.most_common(1)[0]
            known = brief_list(self._names, _SHOWN)
            more = f" (and {len(counts) - 1} other unseen labels)" if len(counts) > 1 else ""
            raise DataError(
                f"{where}: label {brief(label)!r} ({n} rows){more} never occurs in train "
                f"(train labels: {known}); "
                "fix the labels or set data.unseen_labels: skip"
            )
        return ids, kept

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Class names of ``ids``."""
        return [self._names[int(i)] for i in ids]

    def to_json(self) -> str:
        """``{"labels": [...]}`` as text (non-ASCII names stay readable)."""
        return json.dumps({"labels": self._names}, ensure_ascii=False, indent=2) + "\n"

    def save(self, path: str | Path) -> None:
        """Write ``labels.json``."""
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LabelMap:
        """Read a ``labels.json`` written by ``save``; a malformed file raises ValueError or KeyError."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        names = data["labels"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("'labels' must be a list of strings")
        return cls(names)
