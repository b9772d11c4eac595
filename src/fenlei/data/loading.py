"""From a DataConfig to labelled splits: read files (or a catalog set), split dev, map labels."""

from __future__ import annotations

from dataclasses import dataclass, field

from fenlei.data.examples import Examples
from fenlei.data.labels import LabelMap, check_class_count
from fenlei.errors import ConfigError, DataError


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


def read_split(cfg, path: str, split: str, with_labels: bool = True) -> Examples:
    """Read one file with the columns, format and encoding of ``cfg``."""
    from fenlei.data.readers import read_examples

    return read_examples(
        path,
        format=cfg.format,
        text_column=cfg.text_column,
        label_column=cfg.label_column if with_labels else None,
        encoding=cfg.encoding,
        split=split,
        multi_label=getattr(cfg, "multi_label", False),
        label_separator=getattr(cfg, "label_separator", "|"),
    )


def load_splits(cfg) -> Splits:
    """Read and label the data a DataConfig names; a missing dev set is split off train."""
    from fenlei.data.split import stratified_split

    if getattr(cfg, "multi_label", False):
        from fenlei.data.multilabel import load_multilabel_splits

        return load_multilabel_splits(cfg)
    paths = data_paths(cfg)
    notes: dict[str, int] = {}
    train = read_split(cfg, paths["train"], "train")
    count_skips(notes, "train", train)
    if train.labels is not None:  # before the dev split, which would fail on 100k singletons first
        check_class_count(train.labels, train.source)
    if paths["dev"]:
        dev = read_split(cfg, paths["dev"], "dev")
        count_skips(notes, "dev", dev)
    else:
        train, dev = stratified_split(train, cfg.dev_ratio, cfg.split_seed)
    test = None
    if paths["test"]:
        test = read_split(cfg, paths["test"], "test")
        count_skips(notes, "test", test)
    if not len(train):
        raise DataError(f"{paths['train']}: no usable training examples (all rows empty or skipped)")
    from fenlei.data.multilabel import check_single_label

    check_single_label(train, getattr(cfg, "label_separator", "|"))
    labels = LabelMap.fit(train.labels)
    train_ids, _ = labels.encode(train.labels, unseen="error", source=train.source)
    dev, dev_ids = encode_split(labels, dev, cfg.unseen_labels, notes, "dev")
    test_ids = None
    if test is not None:
        test, test_ids = encode_split(labels, test, cfg.unseen_labels, notes, "test")
    return Splits(train, dev, test, labels, train_ids, dev_ids, test_ids, notes)


def encode_split(labels: LabelMap, ex: Examples, policy: str, notes: dict, split: str, encode=None):
    """Label ids of a dev/test split under the unseen-label ``policy``, dropping (and counting) the
    rows it skips; ``encode(labels, raw, unseen=, source=)`` defaults to single-label encoding."""
    encode = encode or LabelMap.encode
    ids, kept = encode(labels, ex.labels, unseen=policy, source=ex.source)
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
