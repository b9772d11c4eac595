"""The one live line under ``fenlei auto``'s log: candidate, stage, trial, best so far, time left."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.text import Text

from fenlei.tuning.limits import duration_text


class SearchStatus:
    """Holds what the search is doing; rich redraws it twice a second (the time left moves on its
    own). Log lines go above it through ``say``. Off the terminal it only prints the lines."""

    def __init__(self, deadline: float, console: Console | None = None) -> None:
        self.deadline = deadline
        self.console = console or Console()
        self.fields = {"family": "", "stage": "profiling the data", "trial": "", "best": ""}
        self._live: Live | None = None

    def update(self, **fields: str) -> None:
        self.fields.update(fields)

    def say(self, line: str) -> None:
        """A log line; a tune trial's line also moves the status on."""
        words = line.split()
        if len(words) > 2 and words[1] == "trial" and words[2].isdigit():  # "  family: trial N (...)"
            self.update(trial=f"trial {words[2]}")
        self.console.print(line, markup=False, highlight=False)

    def __rich__(self) -> Text:
        f = self.fields
        parts = [p for p in (f["family"], f["stage"], f["trial"]) if p]
        if f["best"]:
            parts.append(f"best so far {f['best']}")
        parts.append(f"{duration_text(self.deadline - time.monotonic())} left")
        return Text(" · ".join(parts), style="bold cyan")

    def __enter__(self) -> SearchStatus:
        if self.console.is_terminal:
            self._live = Live(self, console=self.console, refresh_per_second=2, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
