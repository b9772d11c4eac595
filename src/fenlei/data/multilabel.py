"""Multi-label data: a list of label names per text, multi-hot ids, the dev split (task.py uses these).

With ``data.multi_label: true`` an Examples holds ``labels`` as lists of names (a JSON list, or a
TSV/CSV cell split on ``data.label_separator``) and ``Splits.*_ids`` hold multi-hot rows (one 0/1
per label in labels.json order), which Batches turn into ``labels`` [B, C]. Rows that cannot be
used (an empty list; a cell joined by another character than the separator) are counted in
``Examples.skipped``, which the run reports, instead of failing the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from fenlei.data.examples import Examples
from fenlei.data.label_cells import split_labels
from fenlei.data.labels import LabelMap
from fenlei.errors import DataError

# Characters that often join labels in a cell; a label whose parts (split on one of them) are
# all other labels was almost certainly meant as several.
_JOINERS = (",", ";", "|", "/")
_MAX_UNSPLIT_SHARE = 0.1  # above this share of rows the file, not the row, is wrong: raise


def check_single_label(examples: Examples, separator: str) -> None:
    """Raise when a single-label train's labels look like lists: the user meant data.multi_label."""
    if not examples.labels:
        return
    counts = Counter(examples.labels)
    joined = [label for label in counts if len(split_labels(label, separator)) > 1]
    if not joined:
        return
    rows = sum(counts[label] for label in joined)
    parts_known = [x for x in joined if all(p in counts for p in split_labels(x, separator))]
    if parts_known or rows >= len(examples.labels) / 2:
        example = (parts_known or joined)[0]
        raise DataError(
            f"{examples.source or 'train'}: label {example!r} ({rows} rows hold {separator!r}) looks "
            f"like several labels; set data.multi_label: true for multi-label classification"
        )


def unsplit_labels(rows: Sequence[list[str]], separator: str, known: Iterable[str] | None = None) -> dict:
    """Label names that look like several labels joined by another character: {name: joiner}.

    ``known`` are the label names the parts must be (train's labels); None: the names of ``rows``
    themselves, each part used as a label of its own somewhere else.
    """
    counts = Counter(name for row in rows for name in row)
    names = set(known) if known is not None else set(counts)
    bad: dict[str, str] = {}
    for name in counts:
        for joiner in _JOINERS:
            if joiner == separator or joiner not in name:
                continue
            parts = split_labels(name, joiner)
            if len(parts) > 1 and all(p in names and p != name for p in parts):
                bad[name] = joiner
                break
    return bad


def drop_unsplit(examples: Examples, separator: str, known: Iterable[str] | None = None) -> Examples:
    """Examples without rows whose labels were not split (counted as ``label_not_split``).

    When more than a tenth of the rows are such rows the separator is wrong for the whole file,
    and a DataError says which one to set.
    """
    bad = unsplit_labels(examples.labels or [], separator, known)
    if not bad:
        return examples
    drop = [i for i, row in enumerate(examples.labels) if any(name in bad for name in row)]
    name, joiner = next(iter(bad.items()))
    where = examples.source or "data"
    if len(drop) > _MAX_UNSPLIT_SHARE * len(examples):
        raise DataError(
            f"{where}: {len(drop)} of {len(examples)} rows have labels like {name!r} that look like "
            f"several labels joined by {joiner!r}, but data.label_separator is {separator!r}; "
            f"set data.label_separator: {joiner!r}"
        )
    dropped = set(drop)
    kept = examples.subset([i for i in range(len(examples)) if i not in dropped])
    kept.skipped = dict(examples.skipped)
    kept.skipped["label_not_split"] = len(drop)
    return kept


def encode_multi(
    labels: LabelMap, rows: Sequence[list[str]] | None, *, unseen: str = "error", source: str = ""
) -> tuple[list[list[int]], list[int]]:
    """Multi-hot rows of ``rows`` and the indices kept; a row with an unseen label raises or is dropped."""
    if rows is None:
        raise DataError(
            f"{source or 'data'}: has no labels; set data.label_column to the column that holds them"
        )
    if unseen == "error":
        labels.encode([name for row in rows for name in row], unseen="error", source=source)
    index = {name: i for i, name in enumerate(labels.names)}
    hots: list[list[int]] = []
    kept: list[int] = []
    for i, row in enumerate(rows):
        if all(name in index for name in row):
            hot = [0] * len(labels)
            for name in row:
                hot[index[name]] = 1
            hots.append(hot)
            kept.append(i)
    return hots, kept


def split_dev(examples: Examples, dev_ratio: float, seed: int) -> tuple[Examples, Examples]:
    """(train, dev), stratified by label set; a label set seen once stays in train."""
    from fenlei.data.split import _stratified_dev

    where = examples.source or "train"
    if len(examples) < 2:
        raise DataError(f"{where}: {len(examples)} examples are too few to split off dev; give data.dev")
    keys = ["\x1f".join(sorted(row)) for row in examples.labels]
    dev_idx = _stratified_dev(keys, dev_ratio, seed)
    if not dev_idx:
        raise DataError(f"{where}: every label set occurs once, so no dev can be split off; give data.dev")
    dev_set = set(dev_idx)
    train = examples.subset([i for i in range(len(examples)) if i not in dev_set])
    train.skipped = dict(examples.skipped)
    return train, examples.subset(sorted(dev_set))
