"""Large corpora: train streamed into an encoded, memory-mapped corpus in the run directory.

``data.streaming: true`` (or ``auto`` with a tsv/csv/jsonl train file over
``data.streaming_threshold_mb``) reads train twice, row by row, never whole: pass 1 checks
every row as the readers do and keeps only the label ids; the dev rows are drawn from them
exactly as ``stratified_split`` draws them; pass 2 tokenises the train rows once into ids on
disk (streaming_store). Memory holds label ids, row offsets, token counts and the dev texts.

``RUN_DIR/corpus/`` holds tokens.bin, offsets.npy, labels.npy, dev.jsonl (rows held out as dev),
labels.json, tokenizer.json + vocab.json (the fitted VocabEncoder, the files a run directory
holds) and manifest.json, written last: the train file's size and mtime and the settings the
corpus depends on. A later call (a resumed run, another rank) reuses a corpus whose manifest
matches. Under torch.distributed, local rank 0 of each node builds; the others wait at a barrier.

Whether a run streams, and whether its settings allow it, is decided once by
``fenlei.resolve`` (an objective, task or encoder that needs train in memory is refused there);
``training/pipeline.py`` then calls ``prepare_streaming`` (run_dir first, the same on every rank)
in place of load_splits + prepare_train_data + fit_encoder and the train ``Batches``.

``splits.train`` is a DiskExamples (``len`` works, ``.texts`` raises); ``train_ids`` is an array.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fenlei.data.examples import Examples
from fenlei.data.labels import LabelMap
from fenlei.data.loading import Splits, count_skips, data_paths, encode_split, read_split
from fenlei.data.readers import ReadOptions, detect_format
from fenlei.data.readers.decoding import BOMS, WIDE_CODECS, head_bytes
from fenlei.data.streaming_build import (
    DEV_ROWS,
    MANIFEST,
    build_corpus,
    check_run_dir,
    fingerprint,
    matches,
)
from fenlei.data.streaming_store import LABELS, DiskBatches, TokenRows
from fenlei.data.vocab_encoder import VocabEncoder
from fenlei.errors import ConfigError, DataError
from fenlei.rundir import CORPUS as CORPUS_DIR
from fenlei.rundir import LABELS as LABELS_FILE

STREAMABLE = ("tsv", "csv", "jsonl")


@dataclass
class DiskExamples:
    """The streamed train split inside Splits: its size, source and skip counts; texts stay on disk."""

    rows: int
    source: str
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.rows

    @property
    def texts(self) -> list[str]:
        """Not held: a streamed train set is only on disk, encoded."""
        raise TypeError("streamed train texts are not in memory; use StreamingData.batches")


@dataclass
class StreamingData:
    """What train() needs from a streamed corpus."""

    splits: Splits  # train is a DiskExamples; train_ids an np.ndarray
    encoder: VocabEncoder
    batches: DiskBatches  # shuffled train batches (train.batch_size, train.seed)
    folder: Path


def use_streaming(data_cfg) -> bool:
    """Whether train is streamed: ``data.streaming``, or for auto a streamable file over the threshold."""
    if isinstance(data_cfg.streaming, bool):
        return data_cfg.streaming
    path = Path(data_paths(data_cfg)["train"]).expanduser()
    if not path.is_file() or path.stat().st_size <= data_cfg.streaming_threshold_mb * 2**20:
        return False  # a missing file is reported by the reader
    fmt = data_cfg.format if data_cfg.format != "auto" else detect_format(path, _options(data_cfg))
    return fmt in STREAMABLE and not _unstreamable_bytes(path, data_cfg.encoding, fmt)


def check_streaming_data(data_cfg) -> None:
    """Raise a ConfigError for data settings that need the whole train set in memory."""
    d = data_cfg
    for key, value in (
        ("data.labeled_per_class", d.labeled_per_class),
        ("data.unlabeled", d.unlabeled),
    ):
        if value:
            raise ConfigError(refusal(d, f"{key} is set, which needs the whole train set in memory"))
    if d.format not in ("auto", *STREAMABLE):
        raise ConfigError(refusal(d, f"data.format {d.format} cannot be streamed (only tsv, csv, jsonl)"))


def prepare_streaming(
    cfg,
    run_dir: str | Path,
    *,
    resume: bool = False,
    writer: bool | None = None,
    barrier: Callable[[], object] | None = None,
) -> StreamingData:
    """Build (or reuse) RUN_DIR/corpus for train, read dev/test, and return splits, encoder, batches.

    ``writer``/``barrier`` default to torch.distributed's: local rank 0 builds, all then meet.
    The settings were checked by ``fenlei.resolve`` (what streaming cannot serve is refused there).
    """
    d = cfg.data
    paths = data_paths(d)
    train = Path(paths["train"]).expanduser()
    opts = _options(d)
    fmt = d.format if d.format != "auto" else detect_format(train, opts)
    if fmt not in STREAMABLE:
        raise ConfigError(
            refusal(d, f"{train} reads as {fmt}, which cannot be streamed (only tsv, csv, jsonl)")
        )
    # dev and test are small: read first, so a bad file fails before the long passes over train
    dev = read_split(d, paths["dev"], "dev") if paths["dev"] else None
    test = read_split(d, paths["test"], "test") if paths["test"] else None
    run_dir = Path(run_dir)
    folder = run_dir / CORPUS_DIR
    key = fingerprint(cfg, train, fmt, dev is not None)
    if writer is None:
        writer, auto_barrier = _ranks()
        barrier = barrier or auto_barrier
    if writer and not matches(folder, key):
        check_run_dir(run_dir, folder, resume, train)
        build_corpus(cfg, train, fmt, opts, folder, key)
    if barrier is not None:
        barrier()
    return _load(cfg, folder, key, train, dev, test)


def _load(cfg, folder: Path, key: dict, train: Path, dev: Examples | None, test: Examples | None):
    d = cfg.data
    if not matches(folder, key):
        raise DataError(f"{folder}: no finished corpus for this train file and these settings; run again")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    notes = dict(manifest["notes"])
    encoder = VocabEncoder.load(folder)
    labels = LabelMap.load(folder / LABELS_FILE)
    if dev is None:
        dev = Examples([], [], str(train))
        with (folder / DEV_ROWS).open(encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                dev.texts.append(row["text"])
                dev.labels.append(row["label"])
    else:
        count_skips(notes, "dev", dev)
    if test is not None:
        count_skips(notes, "test", test)
    from fenlei.task import SingleLabel  # streaming serves single-label runs only

    task = SingleLabel(d.label_separator)
    dev, dev_ids = encode_split(task, labels, dev, d.unseen_labels, notes, "dev")
    test_ids = None
    if test is not None:
        test, test_ids = encode_split(task, labels, test, d.unseen_labels, notes, "test")
    rows = TokenRows(folder)
    train_ids = np.load(folder / LABELS)
    skipped = {k.removeprefix("train_"): v for k, v in manifest["notes"].items()}
    splits = Splits(
        DiskExamples(len(rows), str(train), skipped), dev, test, labels, train_ids, dev_ids, test_ids, notes
    )
    batches = DiskBatches(
        rows, train_ids, cfg.train.batch_size, encoder.pad_id, shuffle=True, seed=cfg.train.seed
    )
    return StreamingData(splits, encoder, batches, folder)


def _ranks() -> tuple[bool, Callable[[], object] | None]:
    """(whether this process builds the corpus, the barrier the others wait at) under torch.distributed."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return True, None
    # local rank 0 of every node: each node gets the corpus whether or not run_dir is shared
    return int(os.environ.get("LOCAL_RANK", dist.get_rank())) == 0, dist.barrier


def _options(d) -> ReadOptions:
    return ReadOptions(
        text_column=d.text_column, label_column=d.label_column, encoding=d.encoding, split="train"
    )


def _unstreamable_bytes(path: Path, encoding: str, fmt: str) -> bool:
    """UTF-16/32 text or a JSON array: auto leaves these to the in-memory reader."""
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        return True  # the reader names the unknown encoding
    head = head_bytes(path)
    if codec == "utf-8" and head.startswith(tuple(bom for bom, _ in BOMS)):
        return True  # read_text's BOM rule makes it UTF-16/32
    return codec.startswith(WIDE_CODECS) or (fmt == "jsonl" and head.lstrip().startswith(b"["))


def refusal(d, why: str) -> str:
    """The message refusing streaming for ``why``."""
    auto = d.streaming == "auto"
    chosen = f" (auto chose streaming: data.train is over {d.streaming_threshold_mb} MB)" if auto else ""
    return f"data.streaming: {why}{chosen}; set data.streaming: false"
