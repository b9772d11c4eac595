"""Property-based tests (hypothesis): readers, tokenizers, the vocabulary encoder and the label map
hold their promises for any text, not only the examples someone thought of."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fenlei.data.encoders import EncoderSettings
from fenlei.data.labels import LabelMap
from fenlei.data.readers import read_examples, read_text, replace_lone_surrogates
from fenlei.data.text import make_tokenizer, truncate
from fenlei.data.vocab import Vocab
from fenlei.data.vocab_encoder import VocabEncoder
from fenlei.errors import DataError, FenleiError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text a line-based file can hold in one cell: no tab, no line break, no NUL, no surrogate
# (UTF-8 cannot encode one). Everything else is fair, including U+2028, U+0085 and U+FEFF.
CELL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r\x00"), max_size=40)
LABEL = CELL.filter(lambda s: s.strip())  # a blank label is an error, not a round trip
ANY = st.text(max_size=60)  # anything a str can hold, lone surrogates included
HAN = st.one_of(
    st.characters(min_codepoint=0x3400, max_codepoint=0x4DBF),  # extension A
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # the unified block
    st.characters(min_codepoint=0x20000, max_codepoint=0x2A6DF),  # extension B (outside the BMP)
)
KINDS = ("word", "char", "jieba")


def _kept(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What a reader gives back: labels and texts stripped, rows with a blank text skipped."""
    return [(label.strip(), text.strip()) for label, text in rows if text.strip()]


# --- readers ----------------------------------------------------------------------------------


@FAST
@given(rows=st.lists(st.tuples(LABEL, CELL), min_size=1, max_size=15), crlf=st.booleans())
def test_tsv_round_trip(tmp_path, rows, crlf):
    end = "\r\n" if crlf else "\n"
    path = tmp_path / "p.tsv"
    path.write_bytes(("label\ttext" + end + "".join(f"{a}\t{b}{end}" for a, b in rows)).encode())
    kept = _kept(rows)
    assume(kept)  # no rows at all is the "header but no rows" error, tested elsewhere
    ex = read_examples(path)
    assert list(zip(ex.labels, ex.texts, strict=True)) == kept
    assert ex.skipped.get("empty_text", 0) == len(rows) - len(kept)


@FAST
@given(rows=st.lists(st.tuples(ANY.filter(str.strip), ANY), min_size=1, max_size=15), raw=st.booleans())
def test_jsonl_round_trip(tmp_path, rows, raw):
    """Any str survives JSON; a lone surrogate comes back as U+FFFD (UTF-8 cannot hold it)."""
    if raw:  # UTF-8 as it is, not \\u escapes: only possible without surrogates
        rows = [(replace_lone_surrogates(a), replace_lone_surrogates(b)) for a, b in rows]
    lines = [json.dumps({"text": t, "label": lab}, ensure_ascii=not raw) for lab, t in rows]
    path = tmp_path / "p.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    # JSON joins an escaped high+low pair into one character, as the reader will see it
    expected = _kept([(_through_json(lab), _through_json(text)) for lab, text in rows])
    ex = read_examples(path)
    assert list(zip(ex.labels, ex.texts, strict=True)) == expected


def _through_json(s: str) -> str:
    return replace_lone_surrogates(json.loads(json.dumps(s)))


@FAST
@given(
    rows=st.lists(
        st.tuples(LABEL, st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))),
        min_size=1,
        max_size=15,
    )
)
def test_csv_round_trip_with_quotes_commas_and_line_breaks(tmp_path, rows):
    buf = io.StringIO()
    csv.writer(buf).writerows([("label", "text"), *rows])
    path = tmp_path / "p.csv"
    path.write_bytes(buf.getvalue().encode())
    kept = _kept(rows)
    assume(kept)
    ex = read_examples(path)
    assert list(zip(ex.labels, ex.texts, strict=True)) == kept


@FAST
@given(
    text=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")), cr=st.booleans()
)
def test_gzip_reads_like_the_plain_file(tmp_path, text, cr):
    assume(text.strip() and not text.startswith("\ufeff"))  # a leading BOM is dropped on purpose
    data = text.encode()
    plain, packed = tmp_path / "p.tsv", tmp_path / "p.tsv.gz"
    plain.write_bytes(data)
    packed.write_bytes(gzip.compress(data))
    assert read_text(packed, "utf-8") == read_text(plain, "utf-8") == text


@FAST
@given(data=st.binary(min_size=1, max_size=300))
def test_any_bytes_read_or_fail_with_a_one_line_data_error(tmp_path, data):
    path = tmp_path / "p.tsv"
    path.write_bytes(data)
    try:
        read_examples(path)
    except DataError as err:
        assert "\n" not in str(err) and str(path) in str(err)


# --- tokenizers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizers():
    return {(kind, lower): make_tokenizer(kind, lowercase=lower) for kind in KINDS for lower in (True, False)}


@FAST
@given(text=ANY)
def test_tokenizers_never_crash_and_make_no_blank_tokens(tokenizers, text):
    for tokenizer in tokenizers.values():
        tokens = tokenizer(text)
        assert all(isinstance(t, str) and t.strip() for t in tokens), tokens


@FAST
@given(text=ANY)
def test_tokens_cover_every_non_space_character_in_order(tokenizers, text):
    """Nothing is dropped or invented: the tokens joined are the text without its whitespace."""
    for kind in KINDS:
        assert "".join(tokenizers[kind, False](text)) == "".join(text.split()), kind


@FAST
@given(text=st.lists(st.one_of(HAN, st.just(" ")), max_size=40).map("".join))
def test_char_tokenizer_gives_one_token_per_han_character(tokenizers, text):
    assert tokenizers["char", True](text) == [c for c in text if c != " "]


@FAST
@given(text=ANY)
def test_lowercasing_is_idempotent(tokenizers, text):
    for kind in KINDS:
        tok = tokenizers[kind, True]
        tokens = tok(text)
        assert tok(text.lower()) == tokens
        assert all(t == t.lower() for t in tokens)


# --- vocabulary encoder -----------------------------------------------------------------------------


class _Tok:
    kind, lowercase, min_freq, max_size = "word", True, 1, None


@FAST
@given(
    train=st.lists(ANY, min_size=1, max_size=10),
    texts=st.lists(ANY, min_size=1, max_size=10),
    max_length=st.integers(1, 12),
    strategy=st.sampled_from(["head", "tail", "head+tail"]),
    kind=st.sampled_from(["word", "char"]),
)
def test_encode_stays_inside_the_vocab_and_max_length(train, texts, max_length, strategy, kind):
    tok = _Tok()
    tok.kind = kind
    encoder, _ = VocabEncoder.fit(train, EncoderSettings(tok, max_length, strategy))
    for ids in encoder.encode(texts):
        assert 1 <= len(ids) <= max_length
        assert ids.dtype.name == "int64"
        assert ((ids >= 1) & (ids < encoder.vocab_size)).all()  # never pad, never past the table


@FAST
@given(
    train=st.lists(ANY, min_size=1, max_size=10),
    texts=st.lists(
        st.one_of(ANY, st.sampled_from(["Don't stop", "a  b\u3000c", "", "  ", "n't n't"])), max_size=12
    ),
    max_length=st.integers(1, 12),
    strategy=st.sampled_from(["head", "tail", "head+tail"]),
    kind=st.sampled_from(["word", "char"]),
    lowercase=st.booleans(),
)
def test_encode_flat_is_encode_joined(train, texts, max_length, strategy, kind, lowercase):
    # the numpy predictor's path (a cache of whitespace pieces' ids for the word tokenizer)
    tok = _Tok()
    tok.kind, tok.lowercase = kind, lowercase
    encoder, _ = VocabEncoder.fit(train, EncoderSettings(tok, max_length, strategy))
    for _ in range(2):  # the second pass reads the cache
        ids, starts = encoder.encode_flat(texts)
        each = encoder.encode(texts)
        assert [ids[a:b].tolist() for a, b in zip(starts[:-1], starts[1:], strict=True)] == [
            e.tolist() for e in each
        ]


@FAST
@given(
    seq=st.lists(st.integers(), max_size=50),
    max_length=st.integers(1, 20),
    strategy=st.sampled_from(["head", "tail", "head+tail"]),
)
def test_truncate(seq, max_length, strategy):
    out = truncate(seq, max_length, strategy)
    assert len(out) == min(len(seq), max_length)
    if len(seq) <= max_length:
        assert out == seq
        return
    if strategy in ("head", "head+tail"):
        assert out[0] == seq[0]
        assert seq[: (max_length + 1) // 2] == out[: (max_length + 1) // 2]
    if strategy == "tail" or (strategy == "head+tail" and max_length >= 2):
        assert out[-1] == seq[-1]
    if strategy == "head+tail":  # the first half and the last half, nothing from the middle
        head = (max_length + 1) // 2
        assert out == seq[:head] + seq[len(seq) - (max_length - head) :]


@FAST
@given(tokens=st.lists(st.text(min_size=1, max_size=5), max_size=30))
def test_vocab_save_load_round_trip(tmp_path, tokens):
    vocab = Vocab.build([tokens])
    vocab.save(tmp_path / "vocab.json")
    again = Vocab.load(tmp_path / "vocab.json")
    assert again.tokens == vocab.tokens
    assert again.encode(tokens) == vocab.encode(tokens)
    assert all(vocab.tokens[i] == t for i, t in zip(vocab.encode(tokens), tokens, strict=True))


# --- label map ----------------------------------------------------------------------------------------

NAME = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@FAST
@given(labels=st.lists(NAME, min_size=2, max_size=40))
def test_label_map_round_trip(tmp_path, labels):
    assume(len(set(labels)) >= 2)
    labels_map = LabelMap.fit(labels)
    ids, kept = labels_map.encode(labels)
    assert kept == list(range(len(labels)))
    assert labels_map.decode(ids) == labels
    assert sorted(set(labels)) == sorted(labels_map.names) and len(labels_map) == len(set(labels))
    labels_map.save(tmp_path / "labels.json")
    assert LabelMap.load(tmp_path / "labels.json") == labels_map


@FAST
@given(numbers=st.lists(st.integers(-(10**20), 10**20), min_size=2, max_size=20, unique=True))
def test_integer_labels_sort_as_numbers_when_they_are_short(numbers):
    names = LabelMap.fit([str(n) for n in numbers]).names
    if all(len(str(abs(n))) <= 18 for n in numbers):
        assert names == [str(n) for n in sorted(numbers)]
    else:  # ids and other long digit strings: string order, and no int() of 5000 digits
        assert names == sorted(str(n) for n in numbers)


@FAST
@given(labels=st.lists(NAME, min_size=2, max_size=20), unseen=NAME)
def test_unseen_labels_error_or_are_skipped(labels, unseen):
    assume(len(set(labels)) >= 2 and unseen not in labels)
    labels_map = LabelMap.fit(labels)
    with pytest.raises(DataError) as info:
        labels_map.encode([*labels, unseen])
    assert "\n" not in str(info.value)
    ids, kept = labels_map.encode([unseen, *labels], unseen="skip")
    assert kept == list(range(1, len(labels) + 1)) and labels_map.decode(ids) == labels


@FAST
@given(message=ANY, size=st.integers(0, 5000))
def test_error_messages_are_one_bounded_line(message, size):
    text = str(FenleiError(message + "x" * size))
    assert "\n" not in text and "\r" not in text and len(text) < 2100
