"""``POST /explain``: explanations as JSON, run off the event loop, and its errors as JSON 4xx/5xx."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
from fastapi.testclient import TestClient

from explain_fakes import KeywordExplainer
from fenlei.serving.app import create_app


class _NoExplain(KeywordExplainer):
    backend = "onnx"
    explain = None


def test_explain_answers_every_text_and_the_named_model():
    with TestClient(create_app({"kw": KeywordExplainer(), "other": KeywordExplainer()})) as client:
        r = client.post("/explain", json={"texts": ["a great film", "dull and boring"]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == "kw" and [e["label"] for e in body["explanations"]] == ["pos", "neg"]
        first = body["explanations"][0]
        assert first["tokens"][1] == {"token": "great", "start": 2, "end": 7, "score": 2.0}
        assert set(first) >= {"text", "label", "probability", "predicted", "method", "delta", "truncated"}
        r = client.post("/models/other/explain", json={"texts": ["a great film"], "label": "neg"})
        assert r.status_code == 200 and r.json()["explanations"][0]["label"] == "neg"
        assert r.json()["model"] == "other"
        assert "/explain" in client.get("/openapi.json").json()["paths"]


def test_explain_errors_are_json_and_the_server_keeps_serving():
    app = create_app({"kw": KeywordExplainer(), "onnx": _NoExplain()})
    with TestClient(app) as client:
        r = client.post("/explain", json={"texts": ["fine"], "label": "meh"})
        assert r.status_code == 400 and "neg, pos" in r.json()["error"], r.text
        r = client.post("/explain", json={"texts": ["  "]})
        assert r.status_code == 400 and "empty text" in r.json()["error"]
        assert client.post("/explain", json={"texts": []}).status_code == 422
        assert client.post("/explain", json={"texts": ["a"], "colour": 1}).status_code == 422
        r = client.post("/models/onnx/explain", json={"texts": ["fine"]})
        assert r.status_code == 501 and "--backend torch" in r.json()["error"]
        r = client.post("/models/nope/explain", json={"texts": ["fine"]})
        assert r.status_code == 404
        assert client.post("/explain", json={"texts": ["fine"]}).status_code == 200


class _Slow(KeywordExplainer):
    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def explain(self, texts, label=None):
        self.release.wait(10)
        return super().explain(texts, label)


def test_explain_does_not_block_predict():
    """While an attribution runs, /predict and /health still answer: it is off the event loop."""
    slow = _Slow()

    async def run():
        transport = httpx.ASGITransport(app=create_app({"kw": slow}))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            pending = asyncio.create_task(client.post("/explain", json={"texts": ["great"]}))
            await asyncio.sleep(0.05)
            t0 = time.perf_counter()
            health = await client.get("/health")
            waited = time.perf_counter() - t0
            slow.release.set()
            return health.status_code, waited, (await pending).status_code

    health, waited, explained = asyncio.run(run())
    assert health == 200 and waited < 2 and explained == 200


def test_explain_real_runs_match_the_predictor(predictors, served_runs):
    from fenlei.inference.predictor import Predictor

    with TestClient(create_app(predictors)) as client:
        r = client.post("/explain", json={"texts": ["a great and lovely film"]})
        assert r.status_code == 200, r.text
        got = r.json()["explanations"][0]
        want = Predictor(served_runs["sentiment"]).explain(["a great and lovely film"])[0]
        assert got["label"] == want.label == "pos"
        assert [t["token"] for t in got["tokens"]] == [t.token for t in want.tokens]
        zh = client.post(
            "/models/topics/explain", json={"texts": ["足球比赛今天"], "label": "finance"}
        ).json()
        assert zh["explanations"][0]["label"] == "finance" and zh["explanations"][0]["tokens"]
        r = client.post("/explain", json={"texts": ["fine"], "label": "meh"})
        assert r.status_code == 400 and "neg, pos" in r.json()["error"]
        r = client.post("/explain", json={"texts": ["fine", " "]})
        assert r.status_code == 400 and "text 2 is empty" in r.json()["error"]
