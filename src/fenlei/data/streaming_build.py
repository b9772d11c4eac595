"""Building RUN_DIR/corpus: two passes over the train file, the dev draw, the manifest.

Both passes read the readers' own rows (readers.Rows), so the rows and errors are theirs. Pass 1
checks every row and keeps only label ids; the dev rows are drawn from them exactly as
``stratified_split`` draws them; pass 2 tokenises the train rows once
(streaming_store.CorpusBuilder) and sets the dev rows aside in dev.jsonl. Everything is
written into a ``corpus.partial-*`` folder that is renamed into place when complete, and
manifest.json (what the corpus depends on) tells a later run whether it can reuse it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from array import array
from pathlib import Path

import numpy as np

from fenlei.data.examples import Examples
from fenlei.data.labels import MAX_CLASSES, check_class_count
from fenlei.data.readers import ReadOptions, Rows
from fenlei.data.split import _stratified_dev
from fenlei.data.streaming_store import LABELS, CorpusBuilder
from fenlei.errors import DataError
from fenlei.rundir import LABELS as LABELS_FILE
from fenlei.rundir import RunDir

MANIFEST = "manifest.json"
DEV_ROWS = "dev.jsonl"
VERSION = 1  # of the corpus layout; a manifest of another version is rebuilt
# max_length auto for a streamed train set, whose longest text is unknown until it is read: the
# bound of the classic families would hold most documents, at 4x the memory of this
STREAM_AUTO_LENGTH = 512


def stream_length(max_length: int | str) -> int:
    """``data.max_length`` for a streamed corpus (auto: STREAM_AUTO_LENGTH)."""
    return STREAM_AUTO_LENGTH if max_length == "auto" else int(max_length)


def build_corpus(cfg, train: Path, fmt: str, opts: ReadOptions, folder: Path, key: dict) -> None:
    """Read ``train`` twice and write the finished corpus (manifest ``key``) into ``folder``."""
    d = cfg.data
    source = str(train)
    rows = Rows(train, fmt, opts)
    names: dict[str, int] = {}  # label name -> provisional id, in order of appearance
    prov = array("i")
    for _, _, label in rows:  # pass 1: every row checked, labels kept
        prov.append(names.setdefault(label, len(names)))
    ids = np.frombuffer(prov, dtype=np.intc).astype(np.int64)
    by_id = list(names)
    if len(names) > MAX_CLASSES:
        check_class_count([by_id[i] for i in ids.tolist()], source)
    in_dev = _dev_rows(ids, names, d, source) if key["dev_file"] is False else np.zeros(len(ids), bool)
    if in_dev.all():
        raise DataError(f"{source}: no usable training examples (all rows empty or skipped)")
    train_names = [by_id[i] for i in ids[~in_dev].tolist()]
    from fenlei.task import SingleLabel  # streaming serves single-label runs

    task = SingleLabel(d.label_separator)
    # it reads only the labels (and the source); the names stand in for the texts it never sees
    task.check_train(Examples(train_names, train_names, source))
    labels = task.fit_labels(train_names)
    del train_names
    partial = folder.with_name(f"{folder.name}.partial-{socket.gethostname()}-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        builder = CorpusBuilder(partial, cfg.tokenizer, stream_length(d.max_length), d.truncation)
        row = 0
        with (partial / DEV_ROWS).open("w", encoding="utf-8") as dev_out:
            for _, text, label in rows:  # pass 2: train texts tokenised, dev rows set aside
                if row < len(in_dev) and in_dev[row]:
                    dev_out.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
                else:
                    builder.add(text)
                row += 1
        if row != len(ids) or stat(train) != [key["size"], key["mtime_ns"]]:
            raise DataError(f"{train} changed while it was being read; leave it alone and run again")
        encoder = builder.finish()
        encoder.save(partial)
        labels.save(partial / LABELS_FILE)
        position = {name: i for i, name in enumerate(labels.names)}
        final = np.array([position.get(name, -1) for name in by_id], dtype=np.int64)
        np.save(partial / LABELS, final[ids[~in_dev]])
        notes = {f"train_{reason}": count for reason, count in rows.skipped.items() if count}
        manifest = {"key": key, "train_rows": len(builder), "dev_rows": int(in_dev.sum()), "notes": notes}
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _install(partial, folder, key)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _dev_rows(ids: np.ndarray, names: dict[str, int], d, source: str) -> np.ndarray:
    """Mask of the rows held out as dev: stratified_split's draw, from label ids alone."""
    if len(ids) < 2:
        raise DataError(f"{source}: {len(ids)} examples are too few to split off dev; give data.dev")
    # ranks in sorted-name order group and stratify exactly as the names themselves would
    rank = np.empty(len(names), dtype=np.int64)
    rank[[names[n] for n in sorted(names)]] = np.arange(len(names))
    dev_idx = _stratified_dev(rank[ids].tolist(), d.dev_ratio, d.split_seed)
    if not dev_idx:
        raise DataError(f"{source}: every class has one example, so no dev can be split off; give data.dev")
    mask = np.zeros(len(ids), dtype=bool)
    mask[dev_idx] = True
    return mask


def fingerprint(cfg, train: Path, fmt: str, dev_file: bool) -> dict:
    """What the corpus depends on: the train file as it is now, and the settings that shape it."""
    d, t = cfg.data, cfg.tokenizer
    size, mtime_ns = stat(train)
    return {
        "version": VERSION,
        "train": str(train.resolve()),
        "size": size,
        "mtime_ns": mtime_ns,
        "format": fmt,
        "columns": [d.text_column, d.label_column],
        "encoding": d.encoding,
        "dev_file": dev_file,
        "split": None if dev_file else [d.dev_ratio, d.split_seed],
        "max_length": d.max_length,
        "truncation": d.truncation,
        "tokenizer": [t.kind, t.lowercase, t.min_freq, t.max_size],
    }


def matches(folder: Path, key: dict) -> bool:
    """Whether ``folder`` holds a finished corpus built for ``key``."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return manifest.get("key") == key


def check_run_dir(run_dir: Path, folder: Path, resume: bool, train: Path) -> None:
    """Never rebuild the corpus of a finished run, nor under a resumed one whose data changed."""
    if not resume:
        RunDir(run_dir).refuse_if_taken()
    if resume and (folder / MANIFEST).exists():
        raise DataError(
            f"{folder}: {train} or the data/tokenizer settings changed since this run started, so resuming "
            "would train on other data; start a new run (or restore the file and settings)"
        )


def _install(partial: Path, folder: Path, key: dict) -> None:
    """Move the finished corpus into place (another node's writer may have got there first)."""
    if matches(folder, key):
        shutil.rmtree(partial, ignore_errors=True)
        return
    shutil.rmtree(folder, ignore_errors=True)
    try:
        partial.rename(folder)
    except OSError:
        if not matches(folder, key):
            raise
        shutil.rmtree(partial, ignore_errors=True)


def stat(path: Path) -> list[int]:
    """[size, mtime_ns] of ``path``: a changed file changes one of them."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]
