"""The one reader path: Rows of every format equal read_examples, for every block size, and any
file (random pieces, broken or not) reads alike at any block size.

Named broken inputs, and which error a file with two problems gets, are cases of the bad-input
corpus (tests/bad_inputs/, see its README.md): tests/test_bad_inputs.py::test_readers reads each
one whole and row by row at every block size and expects the same message. Add new ones there.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fenlei.data.label_cells import ListCells
from fenlei.data.readers import ReadOptions, Rows, decoding, open_rows, read_examples
from fenlei.errors import DataError

BLOCKS = [1, 2, 3, 7, 97, 1 << 20]


@contextmanager
def block_size(size: int):
    saved = decoding.BLOCK
    decoding.BLOCK = size
    try:
        yield
    finally:
        decoding.BLOCK = saved


def outcome(path: Path, **kw) -> tuple:
    """What read_examples makes of ``path``: (texts, labels, skipped), or the error message."""
    try:
        ex = read_examples(path, **kw)
    except DataError as err:
        return ("error", str(err))
    return (ex.texts, ex.labels, ex.skipped)


def _csv(rows: list[tuple[str, str]], newline: str = "\n") -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline).writerows([("label", "text"), *rows])
    return buf.getvalue()


ROWS = [
    ("pos", "a fine film"),
    ("neg", "  "),
    ("neg", "dull, and long"),
    ("pos", 'say "hi"'),
    ("中性", "体育 比赛"),
]
TSV = "label\ttext\n" + "".join(f"{a}\t{b}\n" for a, b in ROWS)
FILES = {
    "a.tsv": TSV,
    "crlf_bom.tsv": "\ufeff" + TSV.replace("\n", "\r\n"),
    "cr_only.tsv": TSV.replace("\n", "\r"),
    "headerless.tsv": "".join(f"{a}\t{b}\n" for a, b in ROWS * 3),
    "utf16.tsv": TSV.encode("utf-16"),
    "a.tsv.gz": gzip.compress(TSV.encode()),
    "a.csv": _csv([(a, b.replace(",", ",\n", 1)) for a, b in ROWS]),
    "crlf.csv": _csv(ROWS, "\r\n"),
    "cr.csv": _csv(ROWS, "\r"),
    "stray_quote.csv": "label,text\n" + "pos,fine\n" * 30 + 'neg,"hi" there\npos,end\n',
    "a.jsonl": "".join(json.dumps({"text": b, "label": a}) + "\n" for a, b in ROWS) + "\n",
    "array.json": json.dumps([{"text": b, "label": a} for a, b in ROWS]),
    "in_domain_train.tsv": "gj04\t1\t\tfine.\ngj04\t0\t*\tbad it.\n",
}


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize("name", list(FILES))
def test_rows_are_read_examples_for_every_block(tmp_path, name):
    path = write(tmp_path / name, FILES[name])
    expected = outcome(path)
    assert expected[0] != "error", expected
    for block in BLOCKS:
        with block_size(block):
            rows = open_rows(path)
            got = list(rows)
            assert ([t for _, t, _ in got], [lab for _, _, lab in got], rows.skipped) == expected, block
            assert outcome(path) == expected, block


def test_layouts_read_as_rows(tmp_path):
    (tmp_path / "t").mkdir()
    write(tmp_path / "t" / "class.txt", "finance\nsports")
    news = write(tmp_path / "t" / "dev.txt", "股市大涨\t0\n球队夺冠\t1\r\n")
    for label in ("pos", "neg"):
        (tmp_path / "imdb" / "train" / label).mkdir(parents=True)
        write(tmp_path / "imdb" / "train" / label / "0_1.txt", f"a {label} review<br />more")
    for path in (news, tmp_path / "imdb"):
        rows = open_rows(path)
        ex = read_examples(path)
        assert [r[1:] for r in rows] == list(zip(ex.texts, ex.labels, strict=True))
        assert rows.source == ex.source
    assert read_examples(tmp_path / "imdb").source == str(tmp_path / "imdb" / "train")


def test_each_pass_reads_again_and_counts_its_skips(tmp_path):
    rows = Rows(write(tmp_path / "a.tsv", TSV), "tsv")
    first, second = list(rows), list(rows)
    assert first == second and [line for line, _, _ in first] == [2, 4, 5, 6]
    assert rows.skipped == {"empty_text": 1}
    multi = Rows(tmp_path / "a.tsv", "tsv", ReadOptions(cells=ListCells("|")))
    assert [label for _, _, label in multi][0] == ["pos"]


def test_csv_field_limit_is_put_back_even_when_a_pass_stops(tmp_path):
    long_text = "word " * 60_000  # 300 KB: past the csv module's 128 KB default
    path = write(tmp_path / "a.csv", f'label,text\npos,"{long_text}"\nneg,short\n')
    limit = csv.field_size_limit()
    assert read_examples(path).texts == [long_text.strip(), "short"]
    assert next(iter(open_rows(path)))[1] == long_text.strip()
    assert csv.field_size_limit() == limit


_PIECES = st.sampled_from(
    ["label", "text", "\t", ",", '"', "\n", "\r\n", "\r", " ", "pos", "neg", "a|b", "é", "体育", "\x00"]
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(_PIECES, max_size=40),
    raw=st.sampled_from([b"", b"\xff", b"\xc3", b"\xef\xbb\xbf"]),
    where=st.integers(0, 200),
    suffix=st.sampled_from([".tsv", ".csv", ".jsonl"]),
    block=st.sampled_from([1, 2, 5]),
)
def test_any_file_reads_alike_for_any_block(tmp_path, pieces, raw, where, suffix, block):
    data = "".join(pieces).encode()
    data = data[:where] + raw + data[where:]
    path = write(tmp_path / f"f{suffix}", data)
    expected = outcome(path, cells=ListCells("|"))
    with block_size(block):
        assert outcome(path, cells=ListCells("|")) == expected
