"""The micro-batcher, directly: concurrent requests share a forward pass and get their own rows."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from fenlei.serving.batcher import MicroBatcher


def _echo(calls):
    def predict_proba(texts):
        calls.append(list(texts))
        return np.array([[float(len(t)), 0.0] for t in texts])

    return predict_proba


def test_concurrent_requests_are_one_batch_and_rows_come_back_in_order():
    calls: list = []

    async def main():
        batcher = MicroBatcher(_echo(calls), max_batch=64, max_wait_ms=50)
        await batcher.start()
        texts = [["a"], ["bb", "ccc"], ["dddd"]]
        results = await asyncio.gather(*(batcher.submit(t) for t in texts))
        await batcher.stop()
        return results, batcher.batches

    results, batches = asyncio.run(main())
    assert batches == 1 and calls == [["a", "bb", "ccc", "dddd"]]
    assert [r[:, 0].tolist() for r in results] == [[1.0], [2.0, 3.0], [4.0]]


def test_max_batch_splits_and_a_big_request_still_runs_whole():
    calls: list = []

    async def main():
        batcher = MicroBatcher(_echo(calls), max_batch=2, max_wait_ms=50)
        out = await asyncio.gather(batcher.submit(["x"] * 5), batcher.submit(["y"]), batcher.submit(["z"]))
        await batcher.stop()
        return out

    out = asyncio.run(main())
    assert [len(c) for c in calls] == [5, 2]  # the 5-text request alone, then the two that waited
    assert [len(r) for r in out] == [5, 1, 1]


def test_a_failing_forward_pass_fails_its_requests_only():
    state = {"fail": True}

    def predict_proba(texts):
        if state.pop("fail", False):
            raise ValueError("boom")
        return np.zeros((len(texts), 2))

    async def main():
        batcher = MicroBatcher(predict_proba, max_batch=8, max_wait_ms=1)
        with pytest.raises(ValueError, match="boom"):
            await batcher.submit(["a"])
        ok = await batcher.submit(["b", "c"])  # the worker keeps serving
        await batcher.stop()
        return ok

    assert asyncio.run(main()).shape == (2, 2)
