"""Callbacks observe the loop: progress, history, TensorBoard, the epoch table, early stopping.

They never change the loss; early stopping answers "stop" from ``on_evaluate``, a time budget
(``fenlei tune``) from ``on_step_end``.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class Callback:
    """No-op hooks; subclasses override what they need. State survives resume via state_dict."""

    def on_train_begin(self, trainer) -> None: ...
    def on_epoch_begin(self, trainer, num_batches: int) -> None: ...
    def on_step_end(self, trainer, logs: dict) -> str | None: ...  # "stop" ends the run after this step
    def on_evaluate(self, trainer, metrics: dict, improved: bool) -> str | None: ...
    def on_epoch_end(self, trainer, summary: dict) -> None: ...
    def on_train_end(self, trainer) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


class EarlyStopping(Callback):
    """Stop after ``patience`` evaluations without improvement of the trainer's metric."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.bad = 0

    def on_evaluate(self, trainer, metrics: dict, improved: bool) -> str | None:
        self.bad = 0 if improved else self.bad + 1
        return "stop" if self.patience and self.bad >= self.patience else None

    def state_dict(self) -> dict:
        return {"bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        self.bad = int(state.get("bad", 0))


class History(Callback):
    """history.csv: one row per logged train window and per dev evaluation (wide format)."""

    def __init__(self, path: Path, log_every: int = 50) -> None:
        self.path = Path(path)
        self.log_every = log_every
        self.rows: list[dict] = []
        self._sums: dict[str, float] = {}
        self._count = 0

    def on_step_end(self, trainer, logs: dict) -> None:
        for k, v in logs.items():
            if k != "batch_size":
                self._sums[k] = self._sums.get(k, 0.0) + v
        self._count += 1
        if trainer.state.step % self.log_every == 0:
            self._flush_train(trainer)

    def _flush_train(self, trainer) -> None:
        if not self._count:
            return
        row = {"step": trainer.state.step, "epoch": _epochs_done(trainer), "split": "train"}
        row.update({k: v / self._count for k, v in self._sums.items()})
        self.rows.append(row)
        self._sums, self._count = {}, 0

    def on_evaluate(self, trainer, metrics: dict, improved: bool) -> str | None:
        self._flush_train(trainer)
        row = {"step": trainer.state.step, "epoch": _epochs_done(trainer), "split": "dev"}
        row.update({k: v for k, v in metrics.items() if isinstance(v, (int, float)) and v is not None})
        self.rows.append(row)
        self.write()
        return None

    def on_train_end(self, trainer) -> None:
        self._flush_train(trainer)
        self.write()

    def write(self) -> None:
        """Rewrite the CSV with the union of all columns seen so far."""
        columns: list[str] = []
        for row in self.rows:
            columns += [k for k in row if k not in columns]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)

    def state_dict(self) -> dict:
        return {"rows": self.rows, "sums": self._sums, "count": self._count}

    def load_state_dict(self, state: dict) -> None:
        self.rows = list(state.get("rows", []))
        self._sums = dict(state.get("sums", {}))
        self._count = int(state.get("count", 0))


class TensorBoard(Callback):
    """Event files under tb/: train parts every step, dev metrics at each evaluation."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.writer = None

    def on_train_begin(self, trainer) -> None:
        from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

        # A resumed run drops the events logged after its checkpoint, so curves do not fold back.
        purge = trainer.state.step + 1 if trainer.state.step else None
        self.writer = SummaryWriter(str(self.log_dir), purge_step=purge)

    def on_step_end(self, trainer, logs: dict) -> None:
        for k, v in logs.items():
            self.writer.add_scalar(f"train/{k}", v, trainer.state.step)

    def on_evaluate(self, trainer, metrics: dict, improved: bool) -> str | None:
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and v is not None:
                self.writer.add_scalar(f"dev/{k}", v, trainer.state.step)
        return None

    def on_train_end(self, trainer) -> None:
        if self.writer is not None:
            self.writer.close()


class ProgressBar(Callback):
    """A rich progress bar per epoch showing the loss and examples per second."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None
        self.task = None
        self._t0 = 0.0
        self._examples = 0
        self._loss = None

    def on_epoch_begin(self, trainer, num_batches: int) -> None:
        if not self.console.is_terminal:
            return  # a live bar in a log file is noise; the epoch table still prints
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[speed]} ex/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        done = trainer.state.batch_in_epoch
        self.task = self.progress.add_task(
            "train", total=num_batches, completed=done, epoch=trainer.state.epoch + 1, loss="-", speed="-"
        )
        self._t0, self._examples, self._loss = time.perf_counter(), 0, None
        self._last = 0.0

    def on_step_end(self, trainer, logs: dict) -> None:
        if self.progress is None:
            return
        self._examples += int(logs.get("batch_size", 0)) * trainer.cfg.accumulate
        loss = logs.get("loss")
        if loss is not None:
            self._loss = loss if self._loss is None else 0.95 * self._loss + 0.05 * loss
        now = time.perf_counter()
        if now - self._last < 0.2:  # redrawing every step costs more than small models' steps
            return
        self._last = now
        speed = self._examples / max(now - self._t0, 1e-9)
        self.progress.update(
            self.task,
            completed=trainer.state.batch_in_epoch,
            loss=f"{self._loss:.4f}" if self._loss is not None else "-",
            speed=f"{speed:,.0f}",
        )

    def on_epoch_end(self, trainer, summary: dict) -> None:
        self._close()

    def on_train_end(self, trainer) -> None:
        self._close()

    def _close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class EpochTable(Callback):
    """Prints one line per epoch, like the classic tutorials: losses, dev metric, time, best mark."""

    def __init__(self, metric: str, console: Console | None = None) -> None:
        self.metric = metric
        self.console = console or Console(stderr=True, highlight=False)
        self._header = False

    def on_epoch_end(self, trainer, summary: dict) -> None:
        # The chosen metric gets its own column unless it is one already shown.
        extra = self.metric not in ("accuracy", "loss")
        if not self._header:
            self.console.print(
                f"{'epoch':>5}  {'train loss':>10}  {'dev loss':>9}  {'dev acc':>8}  "
                + (f"{'dev ' + self.metric:>12}  " if extra else "")
                + f"{'time':>7}"
            )
            self._header = True
        dev = summary["dev"]
        metric = dev.get(self.metric)
        self.console.print(
            f"{summary['epoch']:>5}  {summary['train'].get('loss', float('nan')):>10.4f}  "
            f"{dev.get('loss', float('nan')):>9.4f}  {dev.get('accuracy', float('nan')):>8.4f}  "
            + (f"{(metric if metric is not None else float('nan')):>12.4f}  " if extra else "")
            + f"{summary['seconds']:>6.1f}s"
            + ("  *" if summary.get("best") else "")
        )


def _epochs_done(trainer) -> float:
    """Epochs trained so far as a fraction (2.5 = half-way through the third), whenever it is asked."""
    return round(trainer.state.step / max(trainer.steps_per_epoch, 1), 3)
