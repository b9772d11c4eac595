"""The bad-input corpus (tests/bad_inputs/, its README.md says what each case must do) through
the readers, ``fenlei train``, ``evaluate``, ``predict`` and the HTTP server.

This is the one place for broken inputs: a new one is a file in tests/bad_inputs/ (or a
GENERATORS entry here, for big or binary ones), a ``Case`` with its needles and a row in the
README, not a test in a reader's test file. Every case ends in a one-line error with exit code
2 (or a JSON 4xx from the server) or in the documented policy with exit code 0; never a
traceback, never a run directory that looks finished (metrics.json is the mark of a finished
run). The reading cases (no config file, no dev/test, only data.* reading settings) also go
through the readers alone (test_readers): read whole and row by row at every block size, each
gives one outcome, the same message word for word.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import subprocess
import sys
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import make_sentiment, write_tsv
from fenlei.data.readers import ListCells, ReadOptions, SingleCells, decoding, open_rows, read_examples
from fenlei.errors import DataError

CORPUS = Path(__file__).parent / "bad_inputs"
# fasttext at its smallest, one epoch: a case that must train costs about a second
TINY_MODEL = ("model.name=fasttext", "model.embed_dim=8", "model.buckets=1000")
TINY_TRAIN = [
    *TINY_MODEL,
    "train.epochs=1",
    "train.batch_size=16",
    "train.tensorboard=false",
    "train.progress=false",
    "train.report=false",
]
LOOP = TINY_TRAIN[len(TINY_MODEL) :]
MB = 1 << 20
WORDS = ["good", "bad", "film", "plot", "acting", "story", "dull", "fine"]

pytestmark = pytest.mark.usefixtures("one_thread")


# --- generated cases --------------------------------------------------------------------------


def _good_tsv() -> bytes:
    return (CORPUS / "good.tsv").read_bytes()


def gen_gzip(d: Path) -> Path:
    p = d / "train.tsv.gz"
    p.write_bytes(gzip.compress(_good_tsv()))
    return p


def gen_truncated_gzip(d: Path) -> Path:
    data = gzip.compress(_good_tsv() * 20)
    p = d / "cut.tsv.gz"
    p.write_bytes(data[: len(data) // 2])  # a download that stopped half way
    return p


def gen_gzip_cut_at_end(d: Path) -> Path:
    data = gzip.compress(_good_tsv() * 4)
    p = d / "end.tsv.gz"
    p.write_bytes(data[:-12])  # the 8-byte trailer (CRC, size) and the last deflate bytes
    return p


def gen_not_gzip(d: Path) -> Path:
    p = d / "plain.tsv.gz"
    p.write_bytes(_good_tsv())  # named .gz, never compressed
    return p


def gen_gzip_named_tsv(d: Path) -> Path:
    p = d / "packed.tsv"
    p.write_bytes(gzip.compress(_good_tsv()))
    return p


def gen_zip(d: Path) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("train.tsv", _good_tsv())
    p = d / "archive.tsv"
    p.write_bytes(buf.getvalue())
    return p


def gen_random_binary(d: Path) -> Path:
    data = random.Random(0).randbytes(4096)
    assert b"\x00" in data
    p = d / "random.tsv"
    p.write_bytes(data)
    return p


def gen_high_bytes(d: Path) -> Path:
    """Binary without a NUL byte: only the decoder can tell it is not text."""
    rng = random.Random(1)
    p = d / "high.tsv"
    p.write_bytes(b"label\ttext\n" + bytes(rng.randrange(0x80, 0x100) for _ in range(2048)))
    return p


def one_mb_text() -> str:
    """About 1 MB of distinct words, so a vocabulary shows whether the text was truncated."""
    words, size, i = [], 0, 0
    while size < MB:
        word = f"{WORDS[i % len(WORDS)]}{i}"
        words.append(word)
        size += len(word) + 1
        i += 1
    return " ".join(words)


def gen_one_mb_line(d: Path) -> Path:
    p = d / "long.tsv"
    p.write_bytes(_good_tsv() + f"pos\t{one_mb_text()}\n".encode())
    return p


def gen_one_mb_csv_field(d: Path) -> Path:
    """The csv module refuses fields over 128 KB unless told otherwise."""
    p = d / "long.csv"
    body = "".join(f'{lab},"{text}"\n' for lab, text in make_sentiment(24, 0))
    p.write_text(f'label,text\n{body}pos,"{one_mb_text()}"\n', encoding="utf-8")
    return p


def gen_five_mb_document(d: Path) -> Path:
    """One 5-million-character document among short ones: max_length auto stays bounded."""
    p = d / "huge.tsv"
    p.write_bytes(_good_tsv() + f"neg\t{('dull plot ' * 500_000)[:5_000_000]}\n".encode())
    return p


def gen_crlf_in_quoted_fields(d: Path) -> Path:
    """Windows line breaks, some inside quoted CSV fields."""
    p = d / "windows.csv"
    rows = "".join(f'{lab},"{text},\r\nsecond line"\r\n' for lab, text in make_sentiment(24, 0))
    p.write_bytes(f"label,text\r\n{rows}".encode())
    return p


def gen_conflicting_labels(d: Path) -> Path:
    """The same three texts given both labels, twice each, among good rows."""
    p = d / "conflicts.tsv"
    clash = "".join(f"{lab}\tthe very same words {i}\n" for i in range(3) for lab in ("neg", "pos"))
    p.write_bytes(_good_tsv() + clash.encode())
    return p


def gen_long_test(d: Path) -> Path:
    """A train file whose test texts are all longer than anything in it (train texts: 2-10 words)."""
    train = d / "short.tsv"
    train.write_bytes(_good_tsv())
    test = d / "long_test.tsv"
    test.write_text(
        "label\ttext\n" + "".join(f"{lab}\t{(text + ' ') * 80}\n" for lab, text in make_sentiment(20, 3))
    )
    return train


def gen_one_mb_header(d: Path) -> Path:
    p = d / "oneline.tsv"
    p.write_bytes(("x" * MB).encode())  # one 1 MB line, no newline, no tab
    return p


def gen_100k_classes(d: Path) -> Path:
    p = d / "classes.tsv"
    p.write_text("label\ttext\n" + "".join(f"c{i}\ttext number {i}\n" for i in range(100_000)))
    return p


def gen_all_unseen(d: Path) -> Path:
    p = d / "unseen.tsv"
    p.write_text("label\ttext\nneutral\tthe film\nmixed\tthe plot\n")
    return p


GENERATORS: dict[str, Callable[[Path], Path]] = {
    name.removeprefix("gen_"): fn for name, fn in globals().items() if name.startswith("gen_")
}


def resolve(spec: str, d: Path) -> Path:
    """``gen:NAME`` is made by GENERATORS into ``d``; anything else is a path in the corpus."""
    if spec.startswith("gen:"):
        return GENERATORS[spec[4:]](d)
    return CORPUS / spec


# --- the cases ----------------------------------------------------------------------------------


@dataclass
class Case:
    """One input through ``fenlei train``: an error fragment (exit 2) or a policy check (exit 0)."""

    id: str
    train: str  # a corpus path or gen:NAME
    needles: tuple[str, ...] = ()  # all must be in the one-line error; empty = a policy (exit 0)
    sets: tuple[str, ...] = ()
    check: Callable[[Path], None] | None = None  # policy: what the finished run must show
    config: str | None = None  # a YAML file in the corpus, given before the --set overrides
    model: tuple[str, ...] = TINY_MODEL
    test: str | None = None  # a file the generator wrote beside train, given as data.test


def labels_are(*names: str) -> Callable[[Path], None]:
    def check(run: Path) -> None:
        assert json.loads((run / "labels.json").read_text(encoding="utf-8"))["labels"] == list(names)

    return check


def skipped(**counts: int) -> Callable[[Path], None]:
    """metrics.json counts these skipped rows (reading policies), by reason."""

    def check(run: Path) -> None:
        found = json.loads((run / "metrics.json").read_text())["data"]["skipped"]
        assert {k: found.get(k) for k in counts} == counts, found

    return check


def max_length_is(n: int) -> Callable[[Path], None]:
    """data.max_length auto chose ``n`` (the family's bound, not the longest text)."""

    def check(run: Path) -> None:
        assert f"max_length: {n}" in (run / "config.yaml").read_text(encoding="utf-8")

    return check


def profile_warns(word: str) -> Callable[[Path], None]:
    """profile.json holds a warning that says ``word``."""

    def check(run: Path) -> None:
        warnings = json.loads((run / "profile.json").read_text(encoding="utf-8"))["warnings"]
        assert any(word in w for w in warnings), warnings

    return check


def small_vocab(run: Path) -> None:
    """The 1 MB line holds ~130k distinct words; truncation to data.max_length keeps 64."""
    assert len(json.loads((run / "vocab.json").read_text(encoding="utf-8"))["tokens"]) < 200


READER_NAMES = ("aclimdb", "cola", "csv", "jsonl", "thucnews", "tsv")  # unknown_format lists them all
DATA = "data.train="  # the first --set of every case; the rest follow

TRAIN_CASES = [
    # files and folders that are not there or not what they claim
    Case("missing_file", "no_such_file.tsv", ("no_such_file.tsv not found; check data.train",)),
    Case(
        "missing_dev_file",
        "good.tsv",
        ("no_such_dev.tsv not found; check data.dev",),
        (f"data.dev={CORPUS / 'no_such_dev.tsv'}",),
    ),
    Case("folder_as_tsv", "aclimdb_no_neg", ("aclimdb_no_neg", "is a folder"), ("data.format=tsv",)),
    Case(
        "unknown_format",
        "good.tsv",
        ("data.format: unknown reader 'xml'; choose auto", *READER_NAMES),
        ("data.format=xml",),
    ),
    Case(
        "unknown_encoding",
        "good.tsv",
        ("unknown encoding 'klingon'", "data.encoding"),
        ("data.encoding=klingon",),
    ),
    # empty and header-only
    Case("empty_file", "empty.tsv", ("empty.tsv is empty",)),
    Case("blank_lines", "blank_lines.tsv", ("blank_lines.tsv is empty",)),
    Case("header_only", "header_only.tsv", ("header_only.tsv: has a header but no rows",)),
    # columns and rows
    Case(
        "missing_label_column",
        "missing_label_column.tsv",
        ("line 1", "no column 'label' (columns found: sentiment, text)", "data.label_column"),
    ),
    Case(
        "missing_text_column",
        "missing_text_column.tsv",
        ("line 1", "no column 'text' (columns found: label, sentence)", "data.text_column"),
    ),
    Case("ragged_tsv", "ragged.tsv", ("line 3", "expected 2 tab-separated fields (label, text), found 4")),
    Case(
        "ragged_tsv_empty_label",  # the extra tab is reported, not the empty label before it
        "ragged_empty_label.tsv",
        ("line 3", "expected 2 tab-separated fields (label, text), found 3"),
    ),
    Case(
        "ragged_csv",
        "ragged.csv",
        (
            "line 3",
            "expected 2 comma-separated fields (label, text), found 3",
            "quote fields that hold commas",
        ),
    ),
    Case(
        "ragged_csv_after_multiline_record",  # lines are lines of the file, not records
        "ragged_after_multiline.csv",
        ("line 4", "expected 2 comma-separated fields (label, text), found 3"),
    ),
    Case("unbalanced_quote_csv", "unbalanced_quote.csv", ("line 2", "never closes")),
    Case(
        "three_columns_no_header",
        "three_columns_no_header.tsv",
        ("line 1", "no column", "columns found: 1, pos, good film", "data.text_column"),
    ),
    Case(
        "header_like_data",
        "header_like_data.tsv",
        ("line 1", "(review, sentiment) looks like a header", "data.text_column"),
    ),
    Case("empty_label", "empty_label.tsv", ("line 3", "empty label")),
    Case("single_class", "single_class.tsv", ("only one class 'pos'",)),
    Case(
        "dev_unseen_label",
        "good.tsv",
        ("'neutral'", "never occurs in train", "data.unseen_labels"),
        (f"data.dev={CORPUS / 'dev_unseen_label.tsv'}",),
    ),
    # encodings and bytes
    Case("latin1", "latin1.tsv", ("line 3", "not valid utf-8", "set data.encoding (e.g. gbk, latin-1)")),
    Case("mixed_utf8_gbk", "mixed_utf8_gbk.tsv", ("line 3", "mixes encodings")),
    Case("cut_in_multibyte_char", "cut_in_multibyte.tsv", ("line 3", "not valid utf-8", "data.encoding")),
    Case("bom_then_bad_byte", "bom_then_bad_byte.tsv", ("line 3", "not valid utf-8")),  # BOM: no shift
    Case("nul_byte", "nul_byte.tsv", ("line 2", "looks like a binary file (NUL byte)")),
    Case("random_binary", "gen:random_binary", ("binary",)),
    Case("high_bytes_no_nul", "gen:high_bytes", ("line 2", "not valid utf-8")),
    Case("zip_archive", "gen:zip", ("line 1", "zip archive", "unpack")),
    Case("gzip_named_tsv", "gen:gzip_named_tsv", ("line 1", "binary gzip file", "name it .gz")),
    Case("truncated_gzip", "gen:truncated_gzip", ("cut.tsv.gz", "truncated or corrupt")),
    Case("gzip_cut_at_end", "gen:gzip_cut_at_end", ("end.tsv.gz", "truncated or corrupt")),
    Case("not_gzip_named_gz", "gen:not_gzip", ("plain.tsv.gz", "not gzip data")),
    # two problems in one file: the first in the file is reported ...
    Case("ragged_then_latin1", "ragged_then_latin1.tsv", ("line 2", "expected 2 tab-separated fields")),
    Case("latin1_then_ragged", "latin1_then_ragged.tsv", ("line 2", "is not valid utf-8; set data.encoding")),
    # ... except a NUL byte: anywhere, it makes the file binary, undecodable bytes before it too
    Case("bad_byte_then_nul", "bad_byte_then_nul.tsv", ("line 23", "looks like a binary file (NUL byte)")),
    # JSON
    Case("bad_json", "bad_json.jsonl", ("line 2", "invalid JSON")),
    Case("jsonl_not_object", "not_object.jsonl", ("line 2", "expected a JSON object, got list")),
    Case(
        "jsonl_missing_key",
        "missing_key.jsonl",
        ("line 1", "no key 'text' (keys found: sentence, label)", "data.text_column"),
    ),
    Case("jsonl_nested_label", "nested_label.jsonl", ("line 1", "must be a string or number, not dict")),
    Case("jsonl_empty_label", "empty_label.jsonl", ("line 2", "empty label")),
    Case("jsonl_list_label", "list_label.jsonl", ("line 1", "data.multi_label")),
    Case(
        "jsonl_list_label_empty_text",  # skipped for its empty text, the list is still refused
        "list_label_empty_text.jsonl",
        ("line 1", "'label' is a list of labels but this run is single-label", "data.multi_label"),
    ),
    Case("json_array_of_numbers", "array_of_numbers.json", ("expected a JSON object, got int",)),
    # corpus layouts with parts missing
    Case("cola_ragged", "cola_ragged.tsv", ("line 3", "expected 4 tab-separated fields")),
    Case(
        "thucnews_without_class_txt",
        "thucnews_no_class_txt/train.txt",
        ("class.txt not found",),
        ("data.format=thucnews",),
    ),
    Case(
        "thucnews_index_out_of_range",
        "thucnews_index_out_of_range/train.txt",
        ("line 3", "class index 7 is out of range", "lists 2 classes"),
    ),
    Case("thucnews_index_not_number", "thucnews_index_not_number/train.txt", ("line 2", "not a number")),
    Case("thucnews_repeated_classes", "thucnews_repeated_classes/train.txt", ("class names repeat",)),
    Case("aclimdb_missing_neg", "aclimdb_no_neg", ("train/neg", "aclImdb")),
    Case(
        "aclimdb_dev_split_missing",  # a dev split named after its folder, which aclImdb lacks
        "good.tsv",
        ("aclimdb_latin1", "no dev/pos and dev/neg folders"),
        (f"data.dev={CORPUS / 'aclimdb_latin1'}",),
    ),
    Case("aclimdb_no_reviews", "aclimdb_empty", ("no .txt reviews",)),
    Case("aclimdb_latin1_review", "aclimdb_latin1", ("0_2.txt", "line 1", "data.encoding")),
    # config files and keys (issue 2), objectives and semi-supervised settings (issue 4)
    Case("broken_yaml", "good.tsv", ("bad_yaml.yaml", "line 4", "not valid YAML"), config="bad_yaml.yaml"),
    Case("yaml_not_a_mapping", "good.tsv", ("expected a mapping",), config="not_a_mapping.yaml"),
    Case("unknown_config_key", "good.tsv", ("train.colour", "unknown key"), config="unknown_key.yaml"),
    Case("wrong_config_type", "good.tsv", ("train.batch_size",), ("train.batch_size=big",)),
    Case("unknown_model", "good.tsv", ("'bert9'", "textcnn"), model=("model.name=bert9",)),
    # long documents (issue 20): windows are checked against the stride, the positions, the family
    Case(
        "window_smaller_than_stride",
        "good.tsv",
        ("data.window 8 is smaller than data.stride 12",),
        ("data.window=8", "data.stride=12"),
    ),
    Case(
        "window_on_a_classic_family",
        "good.tsv",
        ("data.window splits long texts", "model 'fasttext' reads a whole text"),
        ("data.window=64",),
    ),
    Case(
        "window_past_the_positions",
        "good.tsv",
        ("data.window 1000 is longer than the model's 512 positions",),
        model=("model.name=transformer", "model.pretrained=minilm-l6", "data.window=1000"),
    ),
    Case(
        "unknown_pretrained_folder",
        "good.tsv",
        ("model.pretrained", "/nonexistent/bert"),
        model=("model.name=transformer", "model.pretrained=/nonexistent/bert"),
    ),
    Case(
        "uda_without_unlabeled",
        "good.tsv",
        ("data.unlabeled", "data.labeled_per_class"),
        ("objective.name=uda",),
    ),
    Case(
        "labeled_per_class_too_big",
        "good.tsv",
        ("has only", "data.labeled_per_class"),
        ("data.labeled_per_class=50",),
    ),
    Case("rdrop_alpha_negative", "good.tsv", ("objective.rdrop_alpha",), ("objective.rdrop_alpha=-1",)),
    Case("uda_temperature_out_of_range", "good.tsv", ("uda.temperature",), ("uda.temperature=2",)),
    Case("uda_confidence_out_of_range", "good.tsv", ("uda.confidence",), ("uda.confidence=1",)),
    # size
    Case("one_mb_header_line", "gen:one_mb_header", ("no column", "xxx...")),
    Case("100k_classes", "gen:100k_classes", ("100,000 distinct labels", "data.label_column")),
    # documented policies: these train
    Case("crlf_bom_tsv", "crlf_bom.tsv", check=labels_are("neg", "pos")),
    Case("crlf_bom_csv", "crlf_bom.csv", check=labels_are("neg", "pos")),
    Case("cr_only_line_ends", "cr_only.tsv", check=labels_are("neg", "pos")),
    Case("utf16_with_bom", "utf16_bom.tsv", check=labels_are("neg", "pos")),
    Case("mixed_number_string_labels", "mixed_labels.tsv", check=labels_are("1", "1.0", "one")),
    Case("json_number_and_bool_labels", "json_number_labels.jsonl", check=labels_are("1", "true")),
    Case("json_lone_surrogate", "lone_surrogate.jsonl", check=labels_are("neg", "pos")),
    Case("empty_texts", "empty_texts.tsv", check=skipped(train_empty_text=2)),
    Case("gzip", "gen:gzip", check=labels_are("neg", "pos")),
    Case("one_mb_line", "gen:one_mb_line", sets=("data.max_length=64",), check=small_vocab),
    Case("five_mb_document", "gen:five_mb_document", check=max_length_is(2048)),
    Case("crlf_in_quoted_fields", "gen:crlf_in_quoted_fields", check=labels_are("neg", "pos")),
    Case("test_longer_than_train", "gen:long_test", check=profile_warns("longer"), test="long_test.tsv"),
    Case(
        "conflicting_labels",
        "gen:conflicting_labels",
        check=profile_warns("texts occur in train with different labels"),
    ),
    Case("one_mb_csv_field", "gen:one_mb_csv_field", sets=("data.max_length=64",), check=small_vocab),
    Case("thucnews_no_class_txt_auto", "thucnews_no_class_txt/train.txt", check=labels_are("0", "1")),
    Case(
        "multilabel_empty_lists_and_other_separator",
        "multilabel_gaps.tsv",
        sets=("data.multi_label=true",),
        check=skipped(train_empty_label_list=2, train_label_not_split=1),
    ),
]


def _sets(*items: str) -> list[str]:
    return [x for item in items for x in ("--set", item)]


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """The CLI in-process: (exit code, stdout, stderr); an escaped exception becomes its traceback
    in stderr, so the 'no traceback' assertion reports it."""
    from fenlei.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["fenlei", *map(str, args)])
        code, tb = 0, ""
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001  (a bug: show it in the assertion)
            code, tb = 1, traceback.format_exc()
        out = capsys.readouterr()
        return code, out.out, out.err + tb

    return run


def assert_one_line_with(message: str, needles: tuple[str, ...]) -> None:
    """One line, cut short enough for a terminal, holding every needle (case-insensitive)."""
    assert "\n" not in message, message[:3000]
    assert len(message) < 2200, f"{len(message)} characters"
    for needle in needles:
        assert needle.lower() in message.lower(), message


def assert_user_error(code: int, err: str, needles: tuple[str, ...]) -> None:
    """Exit 2, one line on stderr that starts with 'error: ' and holds every needle."""
    assert "Traceback" not in err, err
    assert code == 2, err
    assert err.startswith("error: ") and err.endswith("\n"), err[:3000]
    assert_one_line_with(err[:-1], needles)


def assert_not_finished(run: Path) -> None:
    """A failed run leaves no run directory, an empty one, or one without metrics.json."""
    if run.exists():
        assert not (run / "metrics.json").exists(), sorted(p.name for p in run.iterdir())


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in TRAIN_CASES])
def test_train(case: Case, run_cli, tmp_path):
    path = resolve(case.train, tmp_path)
    run = tmp_path / "run"
    config = [CORPUS / case.config] if case.config else []
    sets = _sets(DATA + str(path), *case.model, *LOOP, *case.sets)
    if case.test:
        sets += _sets(f"data.test={path.parent / case.test}")
    code, out, err = run_cli("train", *config, "-o", run, "--quiet", *sets)
    if case.needles:
        assert_user_error(code, err, case.needles)
        assert_not_finished(run)
    else:
        assert "Traceback" not in err, err
        assert code == 0, err
        assert (run / "metrics.json").is_file() and not (run / "FAILED").exists()
        case.check(run)


def test_output_is_a_file(run_cli, tmp_path):
    out = tmp_path / "taken.txt"
    out.write_text("not a run directory\n")
    code, _, err = run_cli(
        "train", "-o", out, "--quiet", *_sets(DATA + str(CORPUS / "good.tsv"), *TINY_TRAIN)
    )
    assert_user_error(code, err, ("taken.txt", "-o"))
    assert out.read_text() == "not a run directory\n"


def test_a_real_process_prints_one_line(tmp_path):
    """The same through ``python -m fenlei`` in its own process: stderr, exit code, no run dir."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "fenlei", "train", "-o", str(run), "--quiet"]
    cmd += _sets(DATA + str(gen_truncated_gzip(tmp_path)), *TINY_TRAIN)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert_user_error(proc.returncode, proc.stderr, ("truncated or corrupt",))
    assert not run.exists()


# --- the same cases through the readers alone -------------------------------------------------

# a reading case sets at most these: they make the ReadOptions (data.max_length only acts later)
READ_KEYS = ("data.format", "data.encoding", "data.multi_label", "data.max_length")
# error cases whose file reads: the run refuses it afterwards, for its labels, not the reader
REFUSED_AFTER_READING = {"single_class", "100k_classes"}
BLOCKS = (1, 97, 1 << 20)  # bytes decoded at a time: every boundary, some, none
BIG = 64 << 10  # block 1 costs seconds a megabyte: a bigger file is read at 97 and 1 MB only


def is_reading_case(case: Case) -> bool:
    """Only the train file and data.* reading settings: no config file, no dev/test, no model."""
    keys = {item.split("=", 1)[0] for item in case.sets}
    return keys <= set(READ_KEYS) and case.config is None and case.model == TINY_MODEL


READING_CASES = [c for c in TRAIN_CASES if is_reading_case(c)]


def read_settings(case: Case) -> tuple[str, ReadOptions]:
    """(format, ReadOptions) from the case's data.* sets, as the run reads its train file."""
    given = dict(item.split("=", 1) for item in case.sets)
    multi = given.get("data.multi_label", "false").lower() == "true"
    cells = ListCells("|") if multi else SingleCells()
    opts = ReadOptions(encoding=given.get("data.encoding", "utf-8"), cells=cells)
    return given.get("data.format", "auto"), opts


def read_whole(path: Path, fmt: str, opts: ReadOptions) -> tuple:
    """read_examples: ("rows", texts, labels, skipped), or ("error", message)."""
    try:
        ex = read_examples(path, format=fmt, encoding=opts.encoding, cells=opts.cells)
    except DataError as err:
        return ("error", str(err))
    return ("rows", ex.texts, ex.labels, ex.skipped)


def read_row_by_row(path: Path, fmt: str, opts: ReadOptions) -> tuple:
    """open_rows taken one row at a time, as the streaming corpus builder takes them."""
    texts, labels = [], []
    try:
        rows = open_rows(path, opts, format=fmt)
        it = iter(rows)
        while (row := next(it, None)) is not None:
            texts.append(row[1])
            labels.append(row[2])
    except DataError as err:
        return ("error", str(err))
    return ("rows", texts, labels, rows.skipped)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in READING_CASES])
def test_readers(case: Case, monkeypatch, tmp_path):
    """A reading case read whole (read_examples) and row by row (open_rows) at every block size:
    one outcome, the same DataError message word for word or the same rows and skip counts. The
    reader's own message is one line and holds the case's needles; a policy case reads."""
    path = resolve(case.train, tmp_path)
    fmt, opts = read_settings(case)
    expected = read_whole(path, fmt, opts)
    if case.needles and case.id not in REFUSED_AFTER_READING:
        assert expected[0] == "error", expected[:1] + tuple(map(len, expected[1:3]))
        assert_one_line_with(expected[1], case.needles)
    else:
        assert expected[0] == "rows", expected
    big = path.is_file() and path.stat().st_size > BIG
    for block in BLOCKS[1:] if big else BLOCKS:
        monkeypatch.setattr(decoding, "BLOCK", block)
        assert read_whole(path, fmt, opts) == expected, block
        assert read_row_by_row(path, fmt, opts) == expected, block


# --- evaluate and predict on a finished run -----------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A tiny finished sentiment run (labels neg, pos) to evaluate and predict with."""
    from fenlei.config import load_config
    from fenlei.training.pipeline import train

    d = tmp_path_factory.mktemp("bad-inputs-run")
    data = write_tsv(d / "train.tsv", make_sentiment(80, 0))
    cfg = load_config(None, [f"data.train={data}", *TINY_TRAIN])
    return Path(train(cfg, d / "run", quiet=True).run_dir)


EVALUATE_CASES = [
    ("missing_file", "no_such_file.tsv", (), ("not found",)),
    ("empty_file", "empty.tsv", (), ("empty",)),
    ("header_only", "header_only.tsv", (), ("header but no rows",)),
    ("missing_label_column", "missing_label_column.tsv", (), ("no column 'label'",)),
    ("latin1", "latin1.tsv", (), ("line 3", "data.encoding")),
    ("mixed_utf8_gbk", "mixed_utf8_gbk.tsv", (), ("mixes encodings",)),
    ("nul_byte", "nul_byte.tsv", (), ("binary",)),
    ("random_binary", "gen:random_binary", (), ("binary",)),
    ("truncated_gzip", "gen:truncated_gzip", (), ("truncated or corrupt",)),
    ("unseen_label", "dev_unseen_label.tsv", (), ("'neutral'", "never occurs in train")),
    ("all_unseen_skipped", "gen:all_unseen", ("--unseen-labels", "skip"), ("no rows left",)),
    ("one_mb_header_line", "gen:one_mb_header", (), ("no column", "xxx...")),
    # policies
    ("unseen_label_skipped", "dev_unseen_label.tsv", ("--unseen-labels", "skip"), ()),
    ("gzip", "gen:gzip", (), ()),
    ("crlf_bom", "crlf_bom.tsv", (), ()),
    ("utf16_with_bom", "utf16_bom.tsv", (), ()),
    ("one_mb_line", "gen:one_mb_line", (), ()),
]


@pytest.mark.parametrize(("spec", "args", "needles"), [pytest.param(*c[1:], id=c[0]) for c in EVALUATE_CASES])
def test_evaluate(spec, args, needles, finished_run, run_cli, tmp_path):
    path = resolve(spec, tmp_path)
    code, out, err = run_cli("evaluate", finished_run, "--data", path, *args)
    if needles:
        assert_user_error(code, err, needles)
        return
    assert "Traceback" not in err and code == 0, err
    metrics = json.loads(out)
    assert metrics["n"] > 0 and 0.0 <= metrics["accuracy"] <= 1.0
    if "--unseen-labels" in args:
        assert metrics["skipped"]["unseen_label"] == 1


PREDICT_CASES = [
    ("missing_file", "no_such_file.txt", ("no_such_file.txt", "not found"), None),
    ("latin1", "latin1.tsv", ("line 3", "not valid utf-8"), None),
    ("random_binary", "gen:random_binary", ("binary",), None),
    ("truncated_gzip", "gen:truncated_gzip", ("truncated or corrupt",), None),
    # policies: (spec, expected number of output lines)
    ("empty_file", "empty.tsv", 0, None),
    ("crlf_bom", "crlf_bom.tsv", 25, None),
    ("one_mb_line", "gen:one_mb_line", 26, None),
    ("gzip", "gen:gzip", 25, None),
]


@pytest.mark.parametrize(
    ("spec", "expect"),
    [pytest.param(c[1], c[2], id=c[0], marks=[c[3]] if c[3] else []) for c in PREDICT_CASES],
)
def test_predict_file(spec, expect, finished_run, run_cli, tmp_path):
    path = resolve(spec, tmp_path)
    code, out, err = run_cli("predict", finished_run, "--file", path)
    if isinstance(expect, tuple):
        assert_user_error(code, err, expect)
        return
    assert "Traceback" not in err and code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == expect
    assert all(x["label"] in ("neg", "pos") for x in lines)


def test_predict_arguments(finished_run, run_cli):
    # undecodable bytes in argv arrive as lone surrogates (surrogateescape): still one JSON line
    code, out, err = run_cli("predict", finished_run, "caf\udce9 au lait", "x" * MB)
    assert "Traceback" not in err and code == 0, err
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["text"] == "caf\ufffd au lait" and second["label"] in ("neg", "pos")
    code, _, err = run_cli("predict", finished_run, "fine", "--top-k", "0")
    assert_user_error(code, err, ("top_k",))


# --- the HTTP server ------------------------------------------------------------------------------

SERVER_LIMITS = {"max_texts": 64, "max_chars": 20_000}
_OK = {"texts": ["a fine film"]}


def _j(obj) -> bytes:
    return json.dumps(obj).encode()


SERVER_CASES = [
    ("malformed_json", b'{"texts": ["a"', 422, "not valid json"),
    ("empty_body", b"", 422, "json object"),
    ("json_list_body", b'["a", "b"]', 422, "json object"),
    ("json_null_body", b"null", 422, "json object"),
    ("empty_text_list", _j({"texts": []}), 422, "at least one"),
    ("texts_null", _j({"texts": None}), 422, "texts"),
    ("non_string_texts", _j({"texts": [1, None]}), 422, "texts.0"),
    ("nested_texts", _j({"texts": [["a"]]}), 422, "texts.0"),
    ("one_mb_text", _j({"texts": ["x" * MB]}), 422, "characters, the limit is 20,000"),
    ("huge_batch", _j({"texts": ["a"] * 10_000}), 422, "limit is 64"),
    ("binary_garbage", random.Random(2).randbytes(4096), 400, "not valid utf-8 json"),
    ("gzip_body", gzip.compress(_j(_OK)), 400, "not valid utf-8 json"),
    ("deeply_nested_json", b"[" * 100_000 + b"]" * 100_000, 400, "not valid utf-8 json"),
    ("top_k_not_a_number", _j({"texts": ["a"], "top_k": "two"}), 422, "top_k"),
    ("top_k_infinite", b'{"texts": ["a"], "top_k": 1e400}', 422, "top_k"),
    # policies: answered
    ("lone_surrogate", b'{"texts": ["a cut emoji \\ud83d here"]}', 200, "a cut emoji \ufffd here"),
    ("empty_and_blank_texts", _j({"texts": ["", "   "]}), 200, ""),
    ("nul_in_text", _j({"texts": ["a\u0000b"]}), 200, "a\u0000b"),
    ("huge_top_k", _j({"texts": ["a"], "top_k": 10**30}), 200, ""),
]


@pytest.fixture(scope="module")
def server(finished_run):
    from fastapi.testclient import TestClient

    from fenlei.serving.app import ServeSettings, create_app, load_predictors

    app = create_app(load_predictors([str(finished_run)]), ServeSettings(**SERVER_LIMITS))
    # raise_server_exceptions=False: a bug must show as the 500 a client would see
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(("body", "status", "needle"), [pytest.param(*c[1:], id=c[0]) for c in SERVER_CASES])
def test_server(body, status, needle, server):
    r = server.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text[:500]
    assert "Traceback" not in r.text
    reply = r.json()
    if status >= 400:
        assert reply["status"] == status and needle in reply["error"].lower(), reply
        assert "\n" not in reply["error"] and len(reply["error"]) < 500
    else:
        assert all(x["label"] in ("neg", "pos") for x in reply["results"])
        assert needle in reply["results"][0]["text"]
        assert all(len(x["top"]) <= 2 for x in reply["results"])
    assert server.post("/predict", json=_OK).status_code == 200  # still serving


def test_server_wrong_content_type_says_how_to_send(server):
    r = server.post("/predict", content=_j(_OK), headers={"Content-Type": "text/plain"})
    assert r.status_code == 422 and "application/json" in r.json()["error"]


def test_server_streamed_body_over_the_limit(server):
    """A chunked upload has no Content-Length for the guard to read: the limit applies as it streams."""

    def chunks():
        for _ in range(64):
            yield b"x" * MB

    r = server.post("/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["error"], r.text[:300]
    assert server.post("/predict", json=_OK).status_code == 200
