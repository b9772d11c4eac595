"""Faithfulness: the cut texts, the sample, and an exact keyword model scoring far above random."""

from __future__ import annotations

import pytest

from explain_fakes import KeywordExplainer
from fenlei.errors import FenleiError
from fenlei.inference.explanation import Explanation, TokenScore
from fenlei.inference.faithfulness import count, edits, faithfulness, remove_spans, sample


def test_remove_spans_keeps_the_rest_as_written():
    assert remove_spans("a great film, really", [(2, 7)]) == "a film, really"
    assert remove_spans("真的很好看", [(3, 5)]) == "真的很"
    assert remove_spans("a b c", [(0, 1), (2, 3), (4, 5)]) == ""


def test_counts_and_edits():
    assert [count(f, 7) for f in (0.1, 0.2, 0.5)] == [1, 2, 4]
    assert count(0.2, 5) == 1 and count(0.5, 1) == 1
    toks = [TokenScore("the", 0, 3, 0.1), TokenScore("film", 4, 8, -1.0), TokenScore("rocks", 9, 14, 2.0)]
    import random

    e = edits(Explanation("the film rocks", "pos", 0.9, "pos", toks), [0.2], random.Random(0))
    assert e["comp@0.2"] == "the film" and e["suff@0.2"] == "rocks"
    assert set(e) == {"comp@0.2", "suff@0.2", "comp_random@0.2", "suff_random@0.2"}


def test_sample_is_seeded_and_in_order():
    texts = [f"t{i}" for i in range(100)] + ["  "]
    a, b = sample(texts, 10, seed=3), sample(texts, 10, seed=3)
    assert a == b and len(a) == 10 and a == sorted(a, key=lambda t: int(t[1:]))
    assert sample(texts, 10, seed=4) != a and len(sample(texts, 500)) == 100


def test_exact_explanations_beat_random_tokens():
    texts = [
        f"the {w} film was quite {v} and the plot was {u}"
        for w in ("good", "bad", "great", "dull")
        for v in ("long", "short", "boring", "lovely")
        for u in ("fine", "odd", "superb")
    ]
    model = KeywordExplainer()
    r = faithfulness(model, texts, samples=30, seed=0)
    assert r.texts == 30 and r.skipped == 0 and r.method == "exact-linear" and r.ms_per_text >= 0
    assert model.calls == 1  # 30 texts: one chunk
    assert set(r.comprehensiveness) == {"0.1", "0.2", "0.5"}
    for k in r.comprehensiveness:
        assert r.comprehensiveness[k] > r.comprehensiveness_random[k] + 0.1
        assert r.sufficiency[k] < r.sufficiency_random[k]
    assert r.to_dict()["comprehensiveness"]["0.2"] == r.comprehensiveness["0.2"]
    assert len(r.rows()) == 3 and r.rows()[1][0] == "20%"
    assert faithfulness(model, texts, samples=30, seed=0).comprehensiveness == r.comprehensiveness


def test_no_texts_is_a_user_error():
    with pytest.raises(FenleiError, match="no non-empty texts"):
        faithfulness(KeywordExplainer(), ["", " "])
