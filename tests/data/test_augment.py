"""Offline augmentation: EDA ops, vector synonyms, UDA's TF-IDF replacement, the cache."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from fenlei.data.augment import (
    OP_NAMES,
    Augmenter,
    BackTranslation,
    augment_cached,
    build_augmenter,
    check_ops,
)
from fenlei.errors import ConfigError, DataError

# Clusters: good ~ great ~ fine (and "!" sits right next to good: it must never be picked),
# film ~ movie ~ story; "the" is a stopword.
EN_VECTORS = {
    "good": [1, 0.1, 0, 0],
    "great": [0.9, 0.2, 0, 0],
    "fine": [0.8, 0, 0.1, 0],
    "!": [1, 0.1, 0, 0.01],
    "bad": [-1, 0.1, 0, 0],
    "film": [0, 0, 1, 0.1],
    "movie": [0, 0.1, 0.9, 0.1],
    "story": [0, 0, 0.7, 0.5],
    "the": [0.5, 0.5, 0.5, 0.5],
}
# Pairs of characters that are each other's nearest neighbour.
ZH_VECTORS = {
    "好": [1, 0, 0],
    "佳": [0.95, 0.1, 0],
    "影": [0, 1, 0],
    "片": [0, 0.95, 0.1],
    "电": [0, 0, 1],
    "视": [0.1, 0, 0.95],
}
SENTENCES = [
    "the good film was a fine story",
    "a great movie , really",
    "the story is bad and the film is dull",
    "good acting but a weak plot",
    "it was a fine film , a good film",
]


def write_vectors(path, table: dict[str, list[float]]) -> str:
    dim = len(next(iter(table.values())))
    lines = [f"{len(table)} {dim}"] + [f"{w} " + " ".join(map(str, v)) for w, v in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def en_vectors(tmp_path):
    return write_vectors(tmp_path / "en.vec", EN_VECTORS)


@pytest.fixture
def zh_vectors(tmp_path):
    return write_vectors(tmp_path / "zh.vec", ZH_VECTORS)


def corpus(n: int = 200) -> list[str]:
    """'the' and 'a' everywhere (IDF 0), w-words in 4 texts, v-words in 10, zebra/lion in 2 each."""
    texts = [f"the a w{i % 50} v{i % 20}" for i in range(n)]
    texts[:2] = [t + " zebra" for t in texts[:2]]
    texts[2:4] = [t + " lion" for t in texts[2:4]]
    return texts


def words_only(text: str) -> list[str]:
    return [t for t in text.split() if any(c.isalnum() for c in t)]


def punctuation(text: str) -> list[str]:
    return [t for t in text.split() if not any(c.isalnum() for c in t)]


def test_same_seed_same_output_other_seeds_and_copies_differ():
    texts = [f"w{i} the story of a long film about w{i + 1} and w{i + 2} told slowly" for i in range(50)]
    make = lambda seed: build_augmenter(["swap", "delete", "tfidf"], 0.3, corpus=texts, seed=seed)  # noqa: E731
    first, again, other = make(0), make(0), make(1)
    assert first(texts) == again(texts)
    assert first(texts, copy=2) == again(texts, copy=2)
    assert sum(a != b for a, b in zip(first(texts), other(texts), strict=True)) > 40
    assert sum(a != b for a, b in zip(first(texts, 0), first(texts, 1), strict=True)) > 40


def test_output_does_not_depend_on_the_other_texts_in_the_call():
    texts = [f"the w{i} film w{i + 3} was good" for i in range(30)]
    aug = build_augmenter(["swap", "delete", "tfidf"], 0.3, corpus=texts, seed=3)
    full = aug(texts, copy=1)
    assert aug(texts[10:13], copy=1) == full[10:13]
    assert aug(list(reversed(texts)), copy=1) == list(reversed(full))


def test_delete_never_empties_a_text():
    texts = ["one", "two words", "a b c d e f", "x , y"]
    aug = build_augmenter(["delete"], 1.0, corpus=texts, seed=0)
    for copy in range(20):
        for out in aug(texts, copy):
            assert words_only(out)
    shorter = build_augmenter(["delete"], 0.5, corpus=SENTENCES, seed=0)
    outs = [o for c in range(10) for o in shorter(SENTENCES, c)]
    assert any(len(o.split()) < len(s.split()) for o, s in zip(outs, SENTENCES * 10, strict=True))


def test_swap_keeps_the_tokens():
    aug = build_augmenter(["swap"], 0.3, corpus=SENTENCES, seed=0)
    changed = 0
    for copy in range(5):
        for text, out in zip(SENTENCES, aug(SENTENCES, copy), strict=True):
            assert Counter(out.split()) == Counter(text.split())
            changed += out != text
    assert changed > 15


def test_synonym_replaces_by_vector_neighbours(en_vectors):
    text = "the good film !"
    aug = build_augmenter(["synonym"], 1.0, corpus=[text], seed=0, vectors=en_vectors, neighbours=2)
    seen = set()
    for copy in range(30):
        the, good, film, bang = aug([text], copy)[0].split()
        assert (the, bang) == ("the", "!")  # stopword and punctuation stay
        assert good in {"great", "fine"} and film in {"movie", "story"}
        seen |= {good, film}
    assert seen == {"great", "fine", "movie", "story"}


def test_insert_adds_neighbours_and_keeps_the_rest(en_vectors):
    aug = build_augmenter(["insert"], 0.5, corpus=["good film"], seed=0, vectors=en_vectors, neighbours=2)
    for copy in range(20):
        out = aug(["good film"], copy)[0].split()
        assert len(out) == 3
        rest = list(out)
        rest.remove("good")
        rest.remove("film")
        assert rest[0] in {"great", "fine", "movie", "story"}
        assert [t for t in out if t in ("good", "film")] in (["good", "film"], ["film", "good"])


def test_tfidf_replaces_uninformative_words_more_often():
    texts = corpus()
    aug = build_augmenter(["tfidf"], 0.3, corpus=texts, seed=0)
    vocab = {t for text in texts for t in text.split()}
    text = "the a zebra lion"
    changed = Counter()
    for copy in range(1000):
        out = aug([text], copy)[0].split()
        assert len(out) == 4 and set(out) <= vocab
        changed.update(i for i, (a, b) in enumerate(zip(text.split(), out, strict=True)) if a != b)
    assert changed[0] > 400 and changed[1] > 400  # IDF 0: replaced with p = 0.6 (a few by themselves)
    assert changed[2] == changed[3] == 0  # the text's most informative words are kept
    assert 0.2 < sum(changed.values()) / 4000 < 0.35  # mean replacement rate ~ rate


def test_tfidf_draws_replacements_from_frequent_words():
    texts = corpus()
    aug = build_augmenter(["tfidf"], 0.9, corpus=texts, seed=0)
    drawn = Counter(t for c in range(300) for t in aug(["the a the a"], c)[0].split())
    assert drawn["zebra"] == drawn["lion"] == 0  # max IDF: weight 0
    assert drawn["the"] + drawn["a"] > drawn["w7"]


@pytest.mark.parametrize("op", OP_NAMES)
def test_punctuation_is_left_alone(op, en_vectors):
    texts = ["the good film , really ! a fine story .", "good ; film"]
    aug = build_augmenter([op], 0.5, corpus=texts, seed=0, vectors=en_vectors, neighbours=2)
    for copy in range(20):
        for text, out in zip(texts, aug(texts, copy), strict=True):
            assert punctuation(out) == punctuation(text)
            if op in ("synonym", "swap", "tfidf"):  # same length: punctuation keeps its place
                assert [t in ",!.;" for t in out.split()] == [t in ",!.;" for t in text.split()]


def test_english_is_rejoined_with_single_spaces():
    aug = build_augmenter(["swap"], 0.3, corpus=["a  b\tc"], seed=0)
    assert sorted(aug(["a  b\tc"])[0].split(" ")) == ["a", "b", "c"]


@pytest.mark.parametrize("op", OP_NAMES)
def test_chinese_works_per_character_without_spaces(op, zh_vectors):
    texts = ["好电影。", "电视片好", "好片电视影"]
    aug = build_augmenter([op], 0.5, corpus=texts, seed=0, vectors=zh_vectors, neighbours=1)
    outs = [o for c in range(20) for o in aug(texts, c)]
    assert all(" " not in o and o for o in outs)
    assert sum(o != t for o, t in zip(outs, texts * 20, strict=True)) > 10
    if op in ("synonym", "swap", "tfidf"):
        assert all(len(o) == len(t) for o, t in zip(outs, texts * 20, strict=True))


def test_chinese_synonyms_come_from_character_vectors(zh_vectors):
    aug = build_augmenter(["synonym"], 1.0, corpus=["好电影。"], seed=0, vectors=zh_vectors, neighbours=1)
    assert aug(["好电影。"]) == ["佳视片。"]


def test_several_ops_pick_one_per_text_and_copy():
    aug = build_augmenter(["swap", "delete"], 0.3, corpus=SENTENCES, seed=0)
    kinds = Counter()
    for copy in range(10):
        for text, out in zip(SENTENCES, aug(SENTENCES, copy), strict=True):
            if out == text:
                continue
            kinds["swap" if Counter(out.split()) == Counter(text.split()) else "delete"] += 1
    assert kinds["swap"] > 5 and kinds["delete"] > 5


def test_vector_ops_need_vectors(en_vectors, zh_vectors):
    with pytest.raises(ConfigError, match="augment.vectors or model.vectors"):
        build_augmenter(["swap", "synonym"], 0.1, corpus=SENTENCES, seed=0)
    with pytest.raises(ConfigError, match="no corpus word has a vector"):
        build_augmenter(["insert"], 0.1, corpus=SENTENCES, seed=0, vectors=zh_vectors)
    build_augmenter(["swap", "tfidf"], 0.1, corpus=SENTENCES, seed=0)  # no vectors needed


def test_check_ops_errors():
    check_ops("augment.ops", ["synonym", "tfidf"])
    with pytest.raises(ConfigError, match="augment.ops must name at least one"):
        check_ops("augment.ops", [])
    with pytest.raises(ConfigError, match="uda.ops: unknown augmentation 'shuffle'"):
        check_ops("uda.ops", ["swap", "shuffle"])
    with pytest.raises(ConfigError, match="unknown augmentation"):
        build_augmenter(["typo"], 0.1, corpus=SENTENCES, seed=0)


def test_back_translation_wraps_a_callable():
    def round_trip(texts: list[str]) -> list[str]:
        return [t.upper() for t in texts]

    aug = BackTranslation(round_trip)
    assert isinstance(aug, Augmenter)
    assert aug(["a film", "bon"]) == ["A FILM", "BON"]
    assert "round_trip" in aug.settings()["translate"]
    with pytest.raises(DataError, match="one text per input"):
        BackTranslation(lambda texts: texts[:1])(["a", "b"])


class Counting(Augmenter):
    def __init__(self, tag: str = "x") -> None:
        self.tag, self.calls = tag, 0

    def __call__(self, texts, copy=0):
        self.calls += 1
        return [f"{t}#{self.tag}{copy}" for t in texts]

    def settings(self) -> dict:
        return {"augmenter": "Counting", "tag": self.tag}


def test_augment_cached_round_trip_and_recompute(tmp_path):
    path = tmp_path / "run" / "augmented.jsonl"
    texts = ["a film", "电影", 'with "quotes"\tand tab']
    aug = Counting()
    first = augment_cached(aug, texts, path, copies=2)
    assert first == [[f"{t}#x{c}" for t in texts] for c in range(2)] and aug.calls == 2
    header = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert header["texts"] == 3 and header["copies"] == 2 and header["settings"]["tag"] == "x"
    assert augment_cached(aug, texts, path, copies=2) == first and aug.calls == 2  # read back
    assert augment_cached(aug, texts, path, copies=1) == first[:1] and aug.calls == 2
    assert augment_cached(aug, texts, path, copies=3)[:2] == first and aug.calls == 3  # one more copy
    augment_cached(aug, texts + ["new"], path, copies=3)  # changed input: all computed again
    assert aug.calls == 6
    assert augment_cached(Counting("y"), texts, path)[0][0] == "a film#y0"  # changed settings
    path.write_text("not json\n", encoding="utf-8")
    assert augment_cached(aug, texts, path, copies=1) == first[:1]  # unreadable: computed again
    assert sorted(p.name for p in path.parent.iterdir()) == ["augmented.jsonl"]  # no temp files left


def test_augment_cached_with_a_real_augmenter_and_seed_change(tmp_path):
    path = tmp_path / "uda_views.jsonl"
    texts = corpus(40)
    aug = build_augmenter(["tfidf"], 0.3, corpus=texts, seed=0)
    views = augment_cached(aug, texts, path, copies=2)
    assert views == [aug(texts, 0), aug(texts, 1)]
    assert augment_cached(aug, texts, path, copies=2) == views
    reseeded = build_augmenter(["tfidf"], 0.3, corpus=texts, seed=1)
    assert augment_cached(reseeded, texts, path, copies=2) == [reseeded(texts, 0), reseeded(texts, 1)]
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["settings"]["seed"] == 1
