"""From a DataConfig to labelled splits: read files (or a catalog set), split dev, map labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fenlei.data.examples import Examples
from fenlei.data.label_cells import LabelCells
from fenlei.data.labels import LabelMap
from fenlei.errors import ConfigError, DataError

if TYPE_CHECKING:
    from fenlei.task import Task


@dataclass
class Splits:
    """Train/dev/test examples with label ids, and what was dropped on the way."""

    train: Examples
    dev: Examples
    test: Examples | None
    labels: LabelMap
    train_ids: list[int]
    dev_ids: list[int]
    test_ids: list[int] | None
    notes: dict[str, int] = field(default_factory=dict)  # counts of skipped rows, by reason


def data_paths(cfg) -> dict[str, str | None]:
    """Paths of train/dev/test: explicit keys win over a catalog data set's files."""
    paths: dict[str, str | None] = {"train": cfg.train, "dev": cfg.dev, "test": cfg.test}
    if cfg.name:
        from fenlei.data.catalog import dataset_files

        files = dataset_files(cfg.name)
        for split in paths:
            if not paths[split] and files.get(split):
                paths[split] = str(files[split])
    if not paths["train"]:
        raise ConfigError("data.train is not set: give a training file, or data.name for a catalog data set")
    return paths


def read_split(
    cfg, path: str, split: str, with_labels: bool = True, cells: LabelCells | None = None
) -> Examples:
    """Read one file with the columns, format and encoding of ``cfg``; ``cells`` parse the labels
    (the task's; single-label names by default)."""
    from fenlei.data.readers import read_examples

    return read_examples(
        path,
        format=cfg.format,
        text_column=cfg.text_column,
        label_column=cfg.label_column if with_labels else None,
        encoding=cfg.encoding,
        split=split,
        cells=cells,
    )


def load_splits(cfg, task: Task | None = None, given: dict[str, Examples | None] | None = None) -> Splits:
    """Read and label the data a DataConfig names; a missing dev set is split off train.

    ``task``: the label scheme (default: the one ``cfg`` describes). ``given``: the splits as
    in-memory Examples (``train`` required), instead of files; their rows pass the readers'
    rules (empty texts skipped, label cells parsed by the task).
    """
    if task is None:
        from fenlei.task import make_task

        task = make_task(cfg)
    paths = {"train": "texts", "dev": None, "test": None} if given is not None else data_paths(cfg)

    def read(split: str, known=None) -> Examples | None:
        if given is not None:
            ex = given.get(split)
            ex = None if ex is None else from_memory(ex, task.cells, split)
        else:
            ex = read_split(cfg, paths[split], split, cells=task.cells) if paths[split] else None
        return None if ex is None else task.prepare(ex, known)

    notes: dict[str, int] = {}
    train = read("train")
    count_skips(notes, "train", train)
    task.check_class_count(train)  # before the dev split, which would fail on 100k singletons first
    if not len(train):
        raise DataError(f"{train.source}: no usable training examples (all rows empty or skipped)")
    known = {name for row in train.labels or [] for name in _names(row)}
    dev = read("dev", known)
    if dev is not None:
        count_skips(notes, "dev", dev)
    else:
        train, dev = task.split_dev(train, cfg.dev_ratio, cfg.split_seed)
    test = read("test", known)
    if test is not None:
        count_skips(notes, "test", test)
    task.check_train(train)
    labels = task.fit_labels(train.labels)
    train_ids, _ = task.encode(labels, train.labels, unseen="error", source=train.source)
    dev, dev_ids = encode_split(task, labels, dev, cfg.unseen_labels, notes, "dev")
    test_ids = None
    if test is not None:
        test, test_ids = encode_split(task, labels, test, cfg.unseen_labels, notes, "test")
    return Splits(train, dev, test, labels, train_ids, dev_ids, test_ids, notes)


def from_memory(ex: Examples, cells: LabelCells, split: str) -> Examples:
    """In-memory texts and labels through the readers' own row rules: a blank text is skipped
    (counted), a label cell is parsed by ``cells`` (which may skip the row or raise)."""
    from fenlei.data.readers import ReadOptions, kept_rows

    source = ex.source or split
    labels = ex.labels if ex.labels is not None else [None] * len(ex)
    opts = ReadOptions(label_column="label" if ex.labels is not None else None, split=split, cells=cells)
    skipped: dict[str, int] = {}
    numbered = zip(range(1, len(ex) + 1), map(str, ex.texts), labels, strict=True)
    rows = list(kept_rows(numbered, source, opts, skipped))
    out_labels = None if ex.labels is None else [label for _, _, label in rows]
    return Examples([text for _, text, _ in rows], out_labels, source, {**ex.skipped, **skipped})


def _names(label) -> list:
    return label if isinstance(label, list) else [label]


def encode_split(task: Task, labels: LabelMap, ex: Examples, policy: str, notes: dict, split: str):
    """Label ids of a dev/test split under the unseen-label ``policy``, dropping (and counting) the
    rows it skips."""
    ids, kept = task.encode(labels, ex.labels, unseen=policy, source=ex.source)
    if len(kept) != len(ex):
        notes[f"{split}_unseen_label"] = len(ex) - len(kept)
        skipped = dict(ex.skipped)
        ex = ex.subset(kept)
        ex.skipped = skipped
    if not len(ex):
        raise DataError(f"{ex.source or split}: no examples left after skipping unseen labels")
    return ex, ids


def count_skips(notes: dict, split: str, ex: Examples) -> None:
    """Add ``ex``'s skipped-row counts to ``notes`` as ``{split}_{reason}``."""
    for reason, count in ex.skipped.items():
        if count:
            notes[f"{split}_{reason}"] = count
