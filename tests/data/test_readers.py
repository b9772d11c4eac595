"""Readers: every format on tiny files, format detection, round trips.

Only files that read. A bad input (and the one-line DataError naming file and line that it gets)
is a case of the bad-input corpus, tests/bad_inputs/ (see its README.md), which
tests/test_bad_inputs.py runs through the readers at every block size and through the CLI;
add new ones there, not here.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fenlei.data.readers import detect_format, read_examples

SHARED_THUCNEWS = Path(__file__).resolve().parents[3] / "shared" / "data" / "thucnews" / "original"


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


# --- tsv ---------------------------------------------------------------------------------


def test_tsv_with_header(tmp_path):
    p = write(tmp_path / "a.tsv", "label\ttext\npos\tgood film\nneg\t bad film \n")
    ex = read_examples(p)
    assert ex.texts == ["good film", "bad film"]
    assert ex.labels == ["pos", "neg"]
    assert ex.source == str(p)


def test_tsv_columns_by_name_and_extra_columns(tmp_path):
    p = write(tmp_path / "a.tsv", "id\tsentence\tgold\n1\tfine\t y \n2\tawful\tn\n")
    ex = read_examples(p, text_column="sentence", label_column="gold")
    assert ex.texts == ["fine", "awful"]
    assert ex.labels == ["y", "n"]  # labels are the user's strings, stripped


def test_tsv_keeps_stray_quotes(tmp_path):
    p = write(tmp_path / "a.tsv", 'label\ttext\n1\tit \'s "not bad\n0\t"quoted" start\n1\tend"\n')
    ex = read_examples(p)
    assert ex.texts == ["it 's \"not bad", '"quoted" start', 'end"']


def test_bom_and_crlf(tmp_path):
    p = write(tmp_path / "a.tsv", "\ufefflabel\ttext\r\npos\tgood\r\nneg\tbad\r\n")
    ex = read_examples(p)
    assert ex.labels == ["pos", "neg"]
    assert ex.texts == ["good", "bad"]


def test_headerless_label_first(tmp_path):
    rows = [("1", "a fine and moving film"), ("0", "dull"), ("1", "great fun"), ("0", "bad")]
    p = write(tmp_path / "a.tsv", "".join(f"{a}\t{b}\n" for a, b in rows))
    ex = read_examples(p)
    assert ex.labels == ["1", "0", "1", "0"]
    assert ex.texts[0] == "a fine and moving film"


def test_headerless_text_first(tmp_path):
    p = write(tmp_path / "a.tsv", "good film\tpos\nbad film\tneg\nnice one\tpos\n")
    ex = read_examples(p)
    assert ex.labels == ["pos", "neg", "pos"]
    assert ex.texts == ["good film", "bad film", "nice one"]


def test_headerless_tie_means_label_first(tmp_path):
    ex = read_examples(write(tmp_path / "a.tsv", "ab\tcd\nef\tgh\n"))
    assert ex.labels == ["ab", "ef"]


def test_unlabelled_reads_text_only(tmp_path):
    p = write(tmp_path / "a.tsv", "label\ttext\npos\tgood\n")
    ex = read_examples(p, label_column=None)
    assert ex.labels is None and ex.texts == ["good"]
    one = read_examples(write(tmp_path / "b.tsv", "first text\nsecond text\n"), label_column=None)
    assert one.texts == ["first text", "second text"]


def test_empty_texts_are_skipped_and_counted(tmp_path):
    p = write(tmp_path / "a.tsv", "label\ttext\npos\tgood\nneg\t   \n\npos\t\nneg\tbad\n")
    ex = read_examples(p)
    assert ex.texts == ["good", "bad"]
    assert ex.skipped == {"empty_text": 2}


# --- csv ---------------------------------------------------------------------------------


def test_csv_quoted_fields(tmp_path):
    text = 'text,label\n"hello, world",pos\n"she said ""no""\nand left",neg\nplain,pos\n'
    ex = read_examples(write(tmp_path / "a.csv", text))
    assert ex.texts == ["hello, world", 'she said "no"\nand left', "plain"]
    assert ex.labels == ["pos", "neg", "pos"]


def test_csv_bom_crlf(tmp_path):
    ex = read_examples(write(tmp_path / "a.csv", '\ufefflabel,text\r\npos,"a, b"\r\nneg,c\r\n'))
    assert ex.texts == ["a, b", "c"] and ex.labels == ["pos", "neg"]


def test_csv_headerless_two_columns(tmp_path):
    ex = read_examples(write(tmp_path / "a.csv", "pos,good film\nneg,bad film\npos,fine film\n"))
    assert ex.labels == ["pos", "neg", "pos"]


# --- jsonl -------------------------------------------------------------------------------


def test_jsonl(tmp_path):
    lines = [{"text": "good", "label": "pos"}, {"text": "bad", "label": 0, "id": 3}]
    p = write(tmp_path / "a.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    ex = read_examples(p)
    assert ex.texts == ["good", "bad"] and ex.labels == ["pos", "0"]


def test_json_array(tmp_path):
    p = write(tmp_path / "a.json", json.dumps([{"t": "good", "y": "pos"}, {"t": "bad", "y": "neg"}]))
    ex = read_examples(p, text_column="t", label_column="y")
    assert ex.labels == ["pos", "neg"]


# --- folder and corpus layouts -----------------------------------------------------------


def make_aclimdb(root: Path) -> Path:
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            d = root / split / label
            d.mkdir(parents=True)
            for i in range(2):
                write(d / f"{i}_7.txt", f"{split} {label} review {i}<br /><br />more")
    write(root / "train" / "neg" / "9_1.txt", "  ")  # an empty review is skipped, not fatal
    (root / "train" / "unsup").mkdir()
    write(root / "train" / "unsup" / "0_0.txt", "no label")
    return root


def test_aclimdb_root_and_split_folder(tmp_path):
    root = make_aclimdb(tmp_path / "aclImdb")
    train = read_examples(root)
    assert len(train) == 4 and sorted(set(train.labels)) == ["neg", "pos"]
    assert train.skipped == {"empty_text": 1}
    assert "<br" not in train.texts[0] and train.texts[0].startswith("train")
    test = read_examples(root, split="test")
    assert all(t.startswith("test") for t in test.texts)
    assert read_examples(root / "test").texts == test.texts


def test_cola_raw_autodetected(tmp_path):
    text = "gj04\t1\t\tOur friends won't buy this.\ngj04\t0\t*\tThey drank the pub.\n"
    p = write(tmp_path / "in_domain_train.tsv", text)
    assert detect_format(p) == "cola"
    ex = read_examples(p)
    assert ex.labels == ["1", "0"] and ex.texts[1] == "They drank the pub."


def make_thucnews(folder: Path, lines: str, classes: str = "finance\nsports\ngame") -> Path:
    folder.mkdir(exist_ok=True)
    write(folder / "class.txt", classes)  # no trailing newline, as in the original
    return write(folder / "dev.txt", lines)


def test_thucnews_layout(tmp_path):
    p = make_thucnews(tmp_path / "t", "股市大涨\t0\n球队夺冠\t1\r\n新游戏上线\t2\n")
    assert detect_format(p) == "thucnews"
    ex = read_examples(p)
    assert ex.labels == ["finance", "sports", "game"]
    assert ex.texts == ["股市大涨", "球队夺冠", "新游戏上线"]


@pytest.mark.skipif(not SHARED_THUCNEWS.is_dir(), reason="../shared/data is absent")
def test_real_thucnews_dev():
    t0 = time.perf_counter()
    ex = read_examples(SHARED_THUCNEWS / "dev.txt")
    assert time.perf_counter() - t0 < 1.0
    assert len(ex) == 10000 and len(set(ex.labels)) == 10
    assert "entertainment" in ex.labels  # the last class, whose line has no newline in class.txt


# --- detection, encodings, size ------------------------------------------------------------


def test_detect_format(tmp_path):
    assert detect_format(make_aclimdb(tmp_path / "imdb")) == "aclimdb"
    for name, fmt in [("a.jsonl", "jsonl"), ("a.json", "jsonl"), ("a.csv", "csv"), ("a.tsv", "tsv")]:
        assert detect_format(write(tmp_path / name, "label\ttext\n1\tx\n")) == fmt
    assert detect_format(write(tmp_path / "a.txt", "label\ttext\n1\tx\n")) == "tsv"


def test_gbk_with_its_encoding(tmp_path):
    # read as utf-8 this is the corpus's latin1 case (not valid utf-8); with its encoding, it reads
    p = write(tmp_path / "a.tsv", b"label\ttext\n" + "体育\t比赛\n".encode("gbk"))
    ex = read_examples(p, encoding="gbk")
    assert ex.labels == ["体育"] and ex.texts == ["比赛"]


def test_ten_thousand_lines_read_in_linear_time(tmp_path):
    p = write(
        tmp_path / "big.tsv",
        "label\ttext\n" + "".join(f"{i % 7}\tsome text {i} here\n" for i in range(10000)),
    )
    t0 = time.perf_counter()
    assert len(read_examples(p)) == 10000
    # ~5 ms here; the bound only catches a quadratic slip, not noise from a busy CI machine
    # (speed figures belong in benchmarks/)
    assert time.perf_counter() - t0 < 5.0


# --- properties ----------------------------------------------------------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r\x00"), min_size=1)
_ROWS = st.lists(st.tuples(st.sampled_from(["pos", "neg", "中性", "0"]), _TEXT), min_size=1, max_size=20)
_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(rows=_ROWS)
def test_tsv_round_trip(tmp_path, rows):
    p = write(tmp_path / "p.tsv", "label\ttext\n" + "".join(f"{a}\t{b}\n" for a, b in rows))
    kept = [(a, b.strip()) for a, b in rows if b.strip()]
    ex = read_examples(p)
    assert list(zip(ex.labels, ex.texts, strict=True)) == kept
    assert ex.skipped.get("empty_text", 0) == len(rows) - len(kept)


_ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1)


@_SETTINGS
@given(rows=st.lists(st.tuples(st.sampled_from(["a", "b"]), _ANY_TEXT), min_size=1, max_size=20))
def test_csv_round_trip(tmp_path, rows):
    # quotes, commas and line breaks inside fields survive csv.writer -> reader
    buf = io.StringIO()
    csv.writer(buf).writerows([("label", "text"), *rows])
    p = write(tmp_path / "p.csv", buf.getvalue())
    kept = [(a, b.strip()) for a, b in rows if b.strip()]
    ex = read_examples(p)
    assert list(zip(ex.labels, ex.texts, strict=True)) == kept
