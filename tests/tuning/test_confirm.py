"""Choosing among confirmed trials: equal footing for every trial the confirmation reached."""

from __future__ import annotations

from types import SimpleNamespace

from fenlei.tuning.confirm import confirmed_best, mean_value


def _trials(*values: float) -> list:
    return [SimpleNamespace(number=i, value=v) for i, v in enumerate(values)]


def test_the_winner_is_compared_over_the_seeds_every_confirmed_trial_has():
    trials = _trials(0.80, 0.80, 0.79, 0.90)  # trial 3 was never confirmed: a lucky single seed
    # the share ran out in round 2: trial 0 has two extra seeds, trials 1 and 2 one each
    state = {"confirm": {"0": [0.77, 0.85], "1": [0.81], "2": [0.78]}}
    best = confirmed_best(trials, state, "maximize")
    assert best.number == 1  # 0.805 over two seeds, against trial 0's 0.785 (not its 0.807 over three)
    assert mean_value(trials[0], state, 1) == 0.785
    assert round(mean_value(trials[0], state), 4) == 0.8067  # reported: over all its seeds


def test_without_confirmation_the_single_seed_values_decide():
    trials = _trials(0.70, 0.75)
    assert confirmed_best(trials, {}, "maximize").number == 1
    assert confirmed_best(trials, {}, "minimize").number == 0
    assert confirmed_best([], {}, "maximize") is None
