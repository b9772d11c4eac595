"""Tokenizers: English words, Chinese characters and words, auto detection."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fenlei.data.text import detect_language, make_tokenizer, resolve_kind
from fenlei.errors import ConfigError


def test_word_tokenizer_english():
    tok = make_tokenizer("word")
    assert tok("It wasn't BAD, really!") == ["it", "wasn't", "bad", ",", "really", "!"]
    assert tok("wo n't go") == ["wo", "n't", "go"]
    assert tok("3.5 stars - well-made") == ["3.5", "stars", "-", "well-made"]
    assert make_tokenizer("word", lowercase=False)("Good Film") == ["Good", "Film"]


def test_word_tokenizer_splits_cjk_characters():
    assert make_tokenizer("word")("NBA总决赛 game") == ["nba", "总", "决", "赛", "game"]


def test_char_tokenizer_chinese():
    tok = make_tokenizer("char")
    assert tok("恒生AH溢指 2024年") == ["恒", "生", "ah", "溢", "指", "2024", "年"]


def test_jieba_tokenizer():
    tokens = make_tokenizer("jieba")("中国足球队获得冠军")
    assert "".join(tokens) == "中国足球队获得冠军"
    assert len(tokens) < 9  # words, not characters


def test_auto_detection():
    assert detect_language(["这是一个中文标题", "股市大涨"]) == "zh"
    assert detect_language(["an english sentence", "another one"]) == "en"
    assert resolve_kind("auto", ["足球比赛"]) == "char"
    assert resolve_kind("auto", ["a film"]) == "word"
    assert resolve_kind("jieba", ["a film"]) == "jieba"


def test_unknown_kind():
    with pytest.raises(ConfigError, match="tokenizer.kind"):
        make_tokenizer("bpe9")


@settings(max_examples=200, deadline=None)
@given(st.text())
@pytest.mark.parametrize("kind", ["word", "char"])
def test_never_crashes_and_no_whitespace_in_tokens(kind, text):
    for token in make_tokenizer(kind)(text):
        assert token and not any(ch.isspace() for ch in token)


def test_auto_length_covers_the_longest_text_within_floor_and_bound():
    from fenlei.data.text import AUTO_LENGTH_FLOOR, auto_length

    assert auto_length([3, 9, 5], 2048) == AUTO_LENGTH_FLOOR  # short texts: never below the floor
    assert auto_length([3, 900, 5], 2048) == 900  # the longest training text is kept whole
    assert auto_length([3, 90_000], 2048) == 2048  # a 5 MB document does not set the length
    assert auto_length([], 100) == 100 and auto_length([7], 1) == 1


def test_vocab_encoder_auto_length_from_train(tmp_path):
    from fenlei.config import TokenizerConfig
    from fenlei.data.encoders import EncoderSettings
    from fenlei.data.vocab_encoder import VocabEncoder

    texts = ["word " * 300, "short one"]
    enc, tokens = VocabEncoder.fit(
        texts, EncoderSettings(TokenizerConfig(kind="word"), "auto", "head", None, 2048)
    )
    assert enc.max_length == 300 and len(tokens[0]) == 300
    enc, _ = VocabEncoder.fit(texts, EncoderSettings(TokenizerConfig(kind="word"), "auto", "head", None, 128))
    assert enc.max_length == 128 and len(enc.encode(["word " * 1000])[0]) == 128


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab cd'’-_1.,9好世\u3000\t\nÉé!?n't")) | st.characters()))
def test_word_tokenizer_equals_its_regex_over_the_whole_text(text):
    from fenlei.data.text import _WORD_RE

    assert make_tokenizer("word", lowercase=False)(text) == _WORD_RE.findall(text)
