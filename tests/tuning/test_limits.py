"""The limits of a search that need no training: whether one more closed-form fit fits."""

from __future__ import annotations

import optuna

from fenlei.tuning.limits import fit_fits


def _study(seconds: list[float], failed: float | None = None):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    for s in seconds:
        trial = study.ask()
        trial.set_user_attr("seconds", s)
        study.tell(trial, 0.5)
    if failed is not None:  # a fit stopped by an error says nothing about how long a fit takes
        trial = study.ask()
        trial.set_user_attr("seconds", failed)
        trial.set_user_attr("error", "boom")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return study


def test_a_fit_starts_only_when_the_usual_fit_ends_in_time():
    assert fit_fits(_study([]), 1.0)  # no fit yet: nothing says it will not
    assert fit_fits(_study([60.0, 70.0, 50.0]), 65.0)
    assert not fit_fits(_study([60.0, 70.0, 50.0]), 55.0)  # IMDb: 55 s left, fits take a minute
    assert fit_fits(_study([10.0], failed=500.0), 20.0)
