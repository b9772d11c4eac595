"""Micro-batching: requests that arrive together are predicted in one batch.

Each request puts its texts on a queue; one worker takes what is waiting (up to
``max_batch`` texts, waiting at most ``max_wait_ms`` for more after the first), runs one
forward pass in a thread and hands every request its own rows back, in input order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future


class MicroBatcher:
    """Collects concurrent ``predict_proba`` calls into batches of at most ``max_batch`` texts."""

    def __init__(
        self,
        predict_proba: Callable[[Sequence[str]], np.ndarray],
        max_batch: int = 64,
        max_wait_ms: float = 5.0,
    ) -> None:
        self.predict_proba = predict_proba
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.queue: asyncio.Queue[_Job] | None = None
        self.task: asyncio.Task | None = None
        self.batches = 0  # forward passes run, for /metadata and tests

    async def start(self) -> None:
        """Start the worker on the running event loop (nothing in here awaits, so no race)."""
        if self.task is not None:
            return
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._work())

    async def stop(self) -> None:
        """Stop the worker; requests still queued get an error."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        while self.queue is not None and not self.queue.empty():
            job = self.queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(RuntimeError("server shutting down"))
        self.task = None

    async def submit(self, texts: list[str]) -> np.ndarray:
        """Probabilities for ``texts`` (rows in their order), computed with whatever else is waiting."""
        if self.task is None:  # no lifespan ran (e.g. a bare ASGI client): start on first use
            await self.start()
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(texts, future))
        return await future

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            size = len(jobs[0].texts)
            deadline = time.monotonic() + self.max_wait
            # Take more requests until the batch is full or the wait is over; a request larger
            # than max_batch still runs whole (it was accepted by the per-request limit).
            while size < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), timeout=left)
                except TimeoutError:
                    break
                jobs.append(job)
                size += len(job.texts)
            texts = [t for job in jobs for t in job.texts]
            try:
                probs = await loop.run_in_executor(None, self.predict_proba, texts)
                self.batches += 1
            except Exception as err:  # every waiting request learns of the failure
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(err)
                continue
            start = 0
            for job in jobs:
                n = len(job.texts)
                if not job.future.done():
                    job.future.set_result(probs[start : start + n])
                start += n
