"""The HTTP server: endpoints, several models, micro-batching in input order, and bad input
(each a 4xx with a JSON body, after which the server still answers)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from fastapi.testclient import TestClient

from fenlei.errors import FenleiError
from fenlei.inference.predictor import Predictor
from fenlei.serving.app import ServeSettings, create_app, load_predictors


def _client(predictors, **settings) -> TestClient:
    return TestClient(create_app(predictors, ServeSettings(**settings)))


@pytest.fixture(scope="module")
def runs(served_runs):
    return served_runs


def test_endpoints_and_input_order(predictors, runs):
    with _client(predictors) as client:
        assert client.get("/health").json() == {"status": "ok", "models": ["sentiment", "topics"]}
        assert client.get("/labels").json() == {"model": "sentiment", "labels": ["neg", "pos"]}
        meta = client.get("/metadata").json()
        assert (
            meta["model"] == "fasttext"
            and meta["backend"] == "torch"
            and "accuracy" in meta["metrics"]["dev"]
        )
        assert "/predict" in client.get("/openapi.json").json()["paths"]
        page = client.get("/")
        assert (
            page.status_code == 200
            and 'id="predict"' in page.text
            and "http" not in page.text.split("<script>")[1]
        )

        texts = ["a great and lovely film", "dull , boring and awful", "the plot"]
        r = client.post("/predict", json={"texts": texts, "top_k": 2})
        assert r.status_code == 200
        body = r.json()
        expected = Predictor(runs["sentiment"]).predict(texts, top_k=2)
        assert [x["text"] for x in body["results"]] == texts
        for got, want in zip(body["results"], expected, strict=True):
            assert got["label"] == want["label"] and got["probability"] == pytest.approx(
                want["probability"], abs=1e-6
            )
            assert len(got["top"]) == 2
        zh = client.post("/models/topics/predict", json={"texts": ["足球比赛今天"]}).json()
        assert zh["model"] == "topics" and zh["results"][0]["label"] == "sports"
        assert client.get("/models/topics/labels").json()["labels"] == ["finance", "sports"]


def test_concurrent_requests_are_batched_and_keep_their_order(predictors, runs):
    app = create_app(predictors, ServeSettings(max_batch=64, max_wait_ms=50))
    texts = [
        f"the film was {w} and {v}"
        for w in ("good", "bad", "dull", "great")
        for v in ("fine", "awful", "moving")
    ]
    groups = [texts[i : i + 3] for i in range(0, len(texts), 3)]

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            replies = await asyncio.gather(*(client.post("/predict", json={"texts": g}) for g in groups))
            meta = (await client.get("/metadata")).json()
        return [r.json() for r in replies], meta

    replies, meta = asyncio.run(run())
    want = Predictor(runs["sentiment"]).predict_proba(texts)
    for g, (group, reply) in enumerate(zip(groups, replies, strict=True)):
        assert [x["text"] for x in reply["results"]] == group
        for j, x in enumerate(reply["results"]):
            assert x["probability"] == pytest.approx(float(want[3 * g + j].max()), abs=1e-6)
    assert meta["batches_run"] < len(groups)  # some requests shared a forward pass


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b'{"texts": ["a"', 422, "json"),  # malformed JSON
        (json.dumps({"texts": [1, 2]}).encode(), 422, "texts.0"),  # wrong item type
        (json.dumps({"texts": "one text"}).encode(), 422, "texts"),  # a string, not a list
        (json.dumps({"texts": []}).encode(), 422, "at least one"),  # empty list
        (json.dumps({"texts": ["a"], "top_k": 0}).encode(), 422, "top_k"),
        (json.dumps({"texts": ["a"], "colour": 1}).encode(), 422, "colour"),  # unknown field
        (json.dumps({"texts": ["a"] * 9}).encode(), 422, "limit is 8"),  # too many texts
        (json.dumps({"texts": ["x" * 101]}).encode(), 422, "101 characters"),
        (b'{"texts": ["caf\xe9 \xff"]}', 400, "not valid utf-8 json"),  # not UTF-8
    ],
)
def test_bad_requests_get_json_4xx_and_the_server_keeps_serving(predictors, body, status, needle):
    with _client(predictors, max_texts=8, max_chars=100) as client:
        r = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == status, r.text
        err = r.json()
        assert err["status"] == status and needle.lower() in err["error"].lower(), err
        assert client.post("/predict", json={"texts": ["fine"]}).status_code == 200


def test_huge_body_unknown_model_and_tokens(predictors):
    # limits small enough that 10 MB is more than any valid request: 413 before it is read
    with _client(predictors, token="s3cret", max_texts=4, max_chars=1000) as client:
        big = b'{"texts": ["' + b"x" * 10_000_000 + b'"]}'
        headers = {"Authorization": "Bearer s3cret", "Content-Type": "application/json"}
        r = client.post("/predict", content=big, headers=headers)
        assert r.status_code == 413 and "limit" in r.json()["error"]
        r = client.post("/models/nope/predict", json={"texts": ["a"]}, headers=headers)
        assert r.status_code == 404 and "unknown model 'nope'" in r.json()["error"]
        assert client.post("/predict", json={"texts": ["a"]}).status_code == 401
        r = client.post("/predict", json={"texts": ["a"]}, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["error"] == "invalid bearer token"
        assert client.get("/health").status_code == 200  # public, for load balancers
        assert client.post("/predict", json={"texts": ["a"]}, headers=headers).status_code == 200


def test_broken_run_fails_at_start_up(runs, tmp_path, cli):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(runs["sentiment"], broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(FenleiError, match="model.safetensors: cannot be loaded"):
        load_predictors([str(broken)])
    with pytest.raises(FenleiError, match="two models named"):
        load_predictors([runs["sentiment"], f"{broken.name}={runs['sentiment']}", runs["sentiment"]])
    code, _, err = cli("serve", str(tmp_path / "missing"))
    assert code == 2 and "run directory not found" in err and "Traceback" not in err


def test_openapi_declares_every_status_and_limit_the_server_enforces(predictors):
    with _client(predictors, token="s3cret", max_texts=3, max_chars=50) as client:
        doc = client.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()
        texts = doc["components"]["schemas"]["PredictRequest"]["properties"]["texts"]
        assert (texts["minItems"], texts["maxItems"], texts["items"]["maxLength"]) == (1, 3, 50)
        assert "HTTPValidationError" not in doc["components"]["schemas"]
        label = doc["components"]["schemas"]["ExplainRequest"]["properties"]["label"]
        assert label["anyOf"][0]["enum"] == ["neg", "pos", "finance", "sports"]  # /models/{name}/explain
        own = doc["paths"]["/explain"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert own["properties"]["label"]["anyOf"][0]["enum"] == ["neg", "pos"]  # the default model's
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                declared = set(op["responses"])
                assert {"405", "413"} <= declared and ("401" in declared) == (path != "/health")
                assert ("404" in declared) == ("{name}" in path)
                if method == "post":
                    assert {"400", "422"} <= declared
                    err = op["responses"]["422"]["content"]["application/json"]["schema"]
                    assert err == {"$ref": "#/components/schemas/Error"}
        # what the document says is what the server does
        auth = {"Authorization": "Bearer s3cret"}
        r = client.put("/predict", json={"texts": ["a"]}, headers=auth)
        assert r.status_code == 405 and "POST" in r.headers["allow"] and r.json()["status"] == 405
        assert client.post("/predict", json={"texts": []}, headers=auth).status_code == 422
        assert client.post("/predict", json={"texts": ["a"] * 4}, headers=auth).status_code == 422
        assert client.post("/predict", json={"texts": ["a" * 51]}, headers=auth).status_code == 422
        pattern = doc["components"]["schemas"]["ExplainRequest"]["properties"]["texts"]["items"]["pattern"]
        assert client.post("/explain", json={"texts": [" "]}, headers=auth).status_code == 400 and pattern
        assert client.post("/models/nope/predict", json={"texts": ["a"]}, headers=auth).status_code == 404
        assert client.post("/predict", json={"texts": ["a"]}).status_code == 401
