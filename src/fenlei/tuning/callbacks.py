"""The two observers a tuning trial adds to ``train``: Optuna's pruner and the time budget.

Both only answer "stop" (DESIGN.md §3: callbacks observe); the study reads what they saw.
"""

from __future__ import annotations

import time

from fenlei.training.callbacks import Callback


class Pruning(Callback):
    """Reports each dev evaluation to the Optuna trial; stops the run when the pruner says so."""

    def __init__(self, trial, metric: str) -> None:
        self.trial = trial
        self.metric = metric
        self.pruned = False
        self.evaluations = 0

    def on_evaluate(self, trainer, metrics: dict, improved: bool) -> str | None:
        value = metrics.get(self.metric)
        if value is None:
            return None
        self.evaluations += 1
        self.trial.report(float(value), self.evaluations)
        if self.trial.should_prune():
            self.pruned = True
            return "stop"
        return None


class Deadline(Callback):
    """Stops the run after the step that passes ``deadline`` (time.monotonic); says how far it got,
    so that a budget too small for one trial can name the budget that would fit."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.hit = False
        self.started = time.monotonic()
        self.fraction_done = 0.0

    def on_train_begin(self, trainer) -> None:
        self.started = time.monotonic()

    def on_step_end(self, trainer, logs: dict) -> str | None:
        if time.monotonic() < self.deadline:
            return None
        self.hit = True
        self.fraction_done = trainer.state.step / max(trainer.total_steps, 1)
        return "stop"

    def full_run_seconds(self) -> float | None:
        """Estimated seconds of the whole training loop, from the share done when time ran out."""
        if not self.hit or self.fraction_done <= 0:
            return None
        return (time.monotonic() - self.started) / self.fraction_done


class StepClock(Callback):
    """The seconds of each training step, so that a timing run can leave out the first one: it
    carries the warm-up (kernel choice, first allocations), which on a few-step sample of a
    pretrained encoder made the estimate of a whole epoch 5x too long."""

    def __init__(self) -> None:
        self.ends: list[float] = []
        self._begin = 0.0

    def on_epoch_begin(self, trainer, num_batches: int) -> None:
        self._begin = time.perf_counter()

    def on_step_end(self, trainer, logs: dict) -> None:
        self.ends.append(time.perf_counter())

    def per_step(self) -> float | None:
        """Mean seconds of a step after the first; None with fewer than two steps."""
        if len(self.ends) < 2:
            return None
        return (self.ends[-1] - self.ends[0]) / (len(self.ends) - 1)
