"""Choosing the winner of an auto search from its candidates' figures."""

from __future__ import annotations

from pathlib import Path

from fenlei.tuning.candidates import Candidate, dev_error, pick_auto_winner


def _cand(family: str, dev: float, speed: float, n: int = 1515, source: str = "probe") -> Candidate:
    return Candidate(family, source, Path(family), dev, None, 10.0, speed, 1.0, dev_texts=n)


def test_a_cheaper_family_within_one_standard_error_wins():
    # rt-polarity: the BiLSTM led TF-IDF by 0.6 points on 1,515 dev texts (one error: 1.1 points)
    cands = [_cand("tfidf", 0.7789, 50_000.0), _cand("textrnn", 0.7848, 5_000.0)]
    winner, why = pick_auto_winner(cands, "accuracy")
    assert winner.family == "tfidf"
    assert "within one standard error" in why and "10x faster" in why


def test_a_clear_lead_or_a_slower_rival_keeps_the_best_dev_run():
    clear = [_cand("tfidf", 0.80, 50_000.0, n=692), _cand("transformer", 0.8656, 150.0, n=692)]
    assert pick_auto_winner(clear, "accuracy") == (clear[1], "")
    slower = [_cand("tfidf", 0.7848, 50_000.0), _cand("textrnn", 0.7800, 5_000.0)]
    assert pick_auto_winner(slower, "accuracy") == (slower[0], "")
    # within one family the best dev trial stands: the rule weighs families, not trials
    trials = [
        _cand("tfidf", 0.85, 9_000.0, source="trial 1"),
        _cand("tfidf", 0.849, 90_000.0, source="trial 2"),
    ]
    assert pick_auto_winner(trials, "accuracy")[0].source == "trial 1"


def test_no_error_for_a_loss_or_an_unknown_count():
    assert dev_error(_cand("tfidf", 0.8, 1.0, n=0)) is None
    assert dev_error(_cand("tfidf", 2.3, 1.0)) is None  # a loss is not a proportion
    assert round(dev_error(_cand("tfidf", 0.5, 1.0, n=100)), 6) == 0.05
    losses = [_cand("tfidf", 0.40, 50_000.0), _cand("textrnn", 0.39, 5_000.0)]
    assert pick_auto_winner(losses, "loss")[0].family == "textrnn"  # lower is better, no rule
    assert pick_auto_winner([], "accuracy") == (None, "")
