"""Exact and near duplicates with different labels."""

from __future__ import annotations

import numpy as np

from fenlei.auditing.duplicates import candidate_pairs, find_conflicts, minhash, near_groups, normalise


def test_normalise_case_whitespace_punctuation():
    assert normalise("  The FILM, was\tgreat!! ") == "the film was great"
    assert normalise("ＡＢＣ　足球！") == "abc 足球"  # NFKC: full-width letters and space
    assert normalise("...") == ""


def test_exact_conflicts_need_different_labels():
    texts = ["Great film!", "great film", "GREAT  FILM.", "boring", "Boring!", "other"]
    labels = ["pos", "neg", "pos", "neg", "neg", "pos"]
    conflicts = find_conflicts(texts, labels, threshold=None)
    assert [(c.kind, c.rows) for c in conflicts] == [("exact", [0, 1, 2])]  # "boring" agrees


def test_near_conflicts():
    base = "the acting was superb and the story moving from start to end"
    texts = [
        base,
        base + " indeed",
        "a completely unrelated sentence about football",
        base.replace("superb", "superb!"),
    ]
    labels = ["pos", "neg", "neg", "pos"]
    conflicts = find_conflicts(texts, labels, threshold=0.8)
    kinds = {c.kind: c for c in conflicts}
    assert set(kinds) == {"near"}  # 0 and 3 are one exact group that agrees
    assert kinds["near"].rows == [0, 1, 3]
    assert 0.8 <= kinds["near"].similarity < 1.0
    assert find_conflicts(texts, labels, threshold=None) == []
    assert find_conflicts(texts, labels, threshold=1.0) == []


def test_chinese_near_duplicates():
    texts = [
        "中国男篮今晚迎战韩国队争夺亚洲杯冠军",
        "中国男篮今晚迎战韩国队争夺亚洲杯冠军！",
        "央行宣布降低存款准备金率",
    ]
    texts[1] = "中国男篮今晚迎战韩国队争夺亚洲杯总冠军"
    groups = near_groups([normalise(t) for t in texts], 0.7)
    assert [sorted(g) for g, _ in groups] == [[0, 1]]


def test_minhash_agrees_with_set_overlap():
    from sklearn.feature_extraction.text import HashingVectorizer

    texts = ["abcdefghijklmnop", "abcdefghijklmnoq", "zyxwvutsrqponmlk", "ab"]
    counts = HashingVectorizer(analyzer="char", ngram_range=(3, 3), alternate_sign=False, norm=None)
    x = counts.transform(texts).tocsr()
    x.sort_indices()
    sig = minhash(x, chunk_ids=5)  # chunks smaller than a row still work
    assert (sig[0] == sig[1]).mean() > 0.6
    assert (sig[0] == sig[2]).mean() < 0.2
    pairs = candidate_pairs(sig, x.getnnz(axis=1) > 0)
    assert [0, 1] in pairs.tolist() and [0, 2] not in pairs.tolist()
    assert not np.isin(3, pairs)  # "ab" has no 3-gram


def test_many_texts_stay_cheap():
    import random
    import time

    rng = random.Random(0)
    words = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choices(words, k=12)) for _ in range(10000)]
    texts[10] = texts[5] + " x"
    labels = ["a" if i % 2 else "b" for i in range(len(texts))]
    t0 = time.perf_counter()
    conflicts = find_conflicts(texts, labels)
    assert time.perf_counter() - t0 < 10
    assert [c.rows for c in conflicts] == [[5, 10]]
