"""SIGINT/SIGTERM during training: finish the step, save a resume point, end the run.

A second SIGINT stops at once (the default handler is back after the first). Handlers can
only be set from the main thread; elsewhere (a server thread, a notebook worker) nothing is
caught and the run behaves as before.
"""

from __future__ import annotations

import signal
import threading


class StopOnSignals:
    """Context manager recording the first SIGINT/SIGTERM in ``.name``; the loop polls it."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.name: str | None = None
        self._previous: dict = {}

    def __enter__(self) -> StopOnSignals:
        self.name = None
        if threading.current_thread() is not threading.main_thread():
            return self
        self._previous = {sig: signal.getsignal(sig) for sig in self.SIGNALS}
        for sig in self._previous:
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.name = signal.Signals(signum).name
        self._restore()

    def _restore(self) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)
        self._previous = {}

    def __exit__(self, *exc) -> None:
        self._restore()
