"""``fenlei serve``: a FastAPI app over one or more run directories.

Endpoints: ``POST /predict``, ``POST /explain``, ``GET /health``, ``GET /labels``, ``GET /metadata`` for the
first (default) model, the same under ``/models/{name}/...`` for each model, the demo page at
``/`` and OpenAPI at ``/docs`` and ``/openapi.json``. Every error is a JSON body
``{"error": "...", "status": N}`` with a 4xx status; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from fenlei.errors import FenleiError
from fenlei.serving.batcher import MicroBatcher
from fenlei.serving.demo_page import demo_html
from fenlei.serving.openapi import contract_schema


@dataclass
class ServeSettings:
    """Limits and batching of the server."""

    # texts per request and characters per text: 422 above (in the OpenAPI schema); a body too
    # large to hold them at their limits is refused with 413 before it is read
    max_texts: int = 256
    max_chars: int = 20_000
    max_batch: int = 64  # texts per forward pass across requests
    max_wait_ms: float = 5.0  # how long the first request waits for company
    token: str | None = None  # bearer token required on every endpoint but / and /health

    @property
    def max_body_bytes(self) -> int:
        """Largest request body read at all: every limit at its maximum, 4 bytes per character."""
        return self.max_texts * (self.max_chars * 4 + 16) + 4096


class PredictRequest(BaseModel):
    """Texts to classify and how many labels to return for each."""

    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(..., description="Texts to classify (at least one).")
    top_k: int = Field(1, ge=1, description="Labels per text, most probable first.")


class ExplainRequest(PredictRequest):
    """``/predict``'s body, plus the label to explain (default: each text's predicted label)."""

    label: str | None = Field(None, description="Label to explain; omitted: the predicted one.")


class ApiError(Exception):
    """An error answered as JSON with a 4xx status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class ServedModel:
    """A loaded predictor with its micro-batcher."""

    def __init__(self, name: str, predictor, settings: ServeSettings) -> None:
        self.name, self.predictor = name, predictor
        self.batcher = MicroBatcher(predictor.predict_proba, settings.max_batch, settings.max_wait_ms)
        # one attribution at a time per model: each is many forward and backward passes that
        # already use every core, and autograd on one module from several threads gains nothing
        self.explaining = asyncio.Lock()

    def metadata(self) -> dict:
        meta = self.predictor.metadata()
        metrics = meta.get("metrics", {})
        cfg = self.predictor.config
        return {
            "name": self.name,
            "model": meta["model"],
            "labels": meta["labels"],
            "multi_label": self.predictor.task.multi_label,
            "backend": getattr(self.predictor, "backend", "torch"),
            "metrics": {
                split: _headline(metrics.get(split, {})) for split in ("dev", "test") if split in metrics
            },
            "config": {
                "tokenizer": cfg.tokenizer.kind,
                "max_length": cfg.data.max_length,
                "objective": cfg.objective.name,
                "epochs": cfg.train.epochs,
            },
            "batches_run": self.batcher.batches,
        }


async def explain_with(model: ServedModel, texts: list[str], label: str | None) -> dict:
    """``{"model", "explanations"}`` for ``texts``; attribution (seconds per text for a transformer)
    runs in a worker thread, so the server keeps answering meanwhile."""
    fn = getattr(model.predictor, "explain", None)
    if fn is None:
        backend = getattr(model.predictor, "backend", "this")
        raise ApiError(501, f"the {backend} backend cannot explain; serve the run with --backend torch")
    loop = asyncio.get_running_loop()
    async with model.explaining:
        try:
            exps = await loop.run_in_executor(None, functools.partial(fn, list(texts), label=label))
        except ImportError as err:
            need = (
                f"explaining needs the explain extra ({err.name} is missing): pip install 'fenlei[explain]'"
            )
            raise ApiError(501, need) from None
        except FenleiError as err:  # an empty text, an unknown label: the request's fault
            raise ApiError(400, str(err)) from None
    return {"model": model.name, "explanations": [e.to_dict() for e in exps]}


def _headline(m: dict) -> dict:
    keys = ("n", "accuracy", "macro_f1", "micro_f1", "mcc", "roc_auc")
    return {k: m[k] for k in keys if k in m}


def create_app(predictors: dict[str, object], settings: ServeSettings | None = None) -> FastAPI:
    """The app serving ``predictors`` (name -> Predictor); the first one is the default model."""
    settings = settings or ServeSettings()
    if not predictors:
        raise ValueError("create_app needs at least one predictor")
    models = {name: ServedModel(name, p, settings) for name, p in predictors.items()}
    default = next(iter(models))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for m in models.values():
            await m.batcher.start()
        yield
        for m in models.values():
            await m.batcher.stop()

    app = FastAPI(
        title="fenlei",
        description="Text classification with fenlei run directories.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        # Size first, so a 10 MB body is refused before it is read or parsed.
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
            return _error(
                413, f"request body of {int(length):,} bytes is over the {settings.max_body_bytes:,} limit"
            )
        public = request.url.path in ("/", "/health") or request.method == "OPTIONS"
        if settings.token and not public:
            given = request.headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not value:
                return _error(401, "missing bearer token: send 'Authorization: Bearer <token>'")
            if not secrets.compare_digest(value.strip(), settings.token):
                return _error(401, "invalid bearer token")
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, err: ApiError):
        return _error(err.status, err.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError):
        return _error(422, _validation_message(err.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException):
        if err.status_code == 400:  # FastAPI could not decode the body at all (e.g. not UTF-8)
            return _error(400, f"body: not valid UTF-8 JSON ({err.detail})")
        # 405 keeps Starlette's Allow header (the methods the path has)
        return _error(err.status_code, str(err.detail), getattr(err, "headers", None))

    def get(name: str) -> ServedModel:
        if name not in models:
            raise ApiError(404, f"unknown model {name!r}; served: {', '.join(models)}")
        return models[name]

    def check(req: PredictRequest) -> None:
        if not req.texts:
            raise ApiError(422, "texts: give at least one text")
        if len(req.texts) > settings.max_texts:
            raise ApiError(
                422, f"texts: {len(req.texts)} texts, the limit is {settings.max_texts} per request"
            )
        for i, text in enumerate(req.texts):
            if len(text) > settings.max_chars:
                raise ApiError(
                    422, f"texts[{i}]: {len(text):,} characters, the limit is {settings.max_chars:,}"
                )

    async def predict_with(model: ServedModel, req: PredictRequest) -> dict:
        check(req)
        probs = await model.batcher.submit(req.texts)
        return {"model": model.name, "results": model.predictor.results(req.texts, probs, req.top_k)}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return demo_html(list(models), bool(settings.token))

    @app.get("/health")
    async def health():
        """Liveness: 200 with the served model names."""
        return {"status": "ok", "models": list(models)}

    @app.post("/predict")
    async def predict(req: PredictRequest):
        """Labels with probabilities for each text, in input order (default model)."""
        return await predict_with(models[default], req)

    @app.post("/explain")
    async def explain(req: ExplainRequest):
        """Each text's tokens scored toward the label (default model); slow: many passes per text."""
        check(req)
        return await explain_with(models[default], req.texts, req.label)

    @app.get("/labels")
    async def labels():
        """Label names of the default model, in probability-column order."""
        return {"model": default, "labels": models[default].predictor.label_names}

    @app.get("/metadata")
    async def metadata():
        """Model family, labels, headline metrics and a config summary (default model)."""
        return models[default].metadata()

    @app.get("/models")
    async def list_models():
        """Every served model with its labels."""
        return {"default": default, "models": {n: m.predictor.label_names for n, m in models.items()}}

    @app.post("/models/{name}/predict")
    async def predict_named(name: str, req: PredictRequest):
        """``/predict`` for one of several served models."""
        return await predict_with(get(name), req)

    @app.post("/models/{name}/explain")
    async def explain_named(name: str, req: ExplainRequest):
        """``/explain`` for one of several served models."""
        model = get(name)
        check(req)
        return await explain_with(model, req.texts, req.label)

    @app.get("/models/{name}/labels")
    async def labels_named(name: str):
        """``/labels`` for one of several served models."""
        return {"model": name, "labels": get(name).predictor.label_names}

    @app.get("/models/{name}/metadata")
    async def metadata_named(name: str):
        """``/metadata`` for one of several served models."""
        return get(name).metadata()

    def openapi() -> dict:
        if app.openapi_schema is None:  # built once, with the statuses and limits enforced above
            names = {name: m.predictor.label_names for name, m in models.items()}
            app.openapi_schema = contract_schema(
                app, settings.max_texts, settings.max_chars, bool(settings.token), names
            )
        return app.openapi_schema

    app.openapi = openapi
    return app


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


_SHAPE = 'send a JSON object such as {"texts": ["some text"]} with Content-Type: application/json'


def _validation_message(errors: list) -> str:
    """One line for the first problem FastAPI/pydantic found in a request."""
    first = errors[0] if errors else {}
    loc = [x for x in first.get("loc", ()) if x != "body"]
    kind = first.get("type", "")
    if kind == "json_invalid":  # loc holds the character position, not a field
        why = (first.get("ctx") or {}).get("error", "JSON decode error")
        at = f" at character {loc[0]}" if loc else ""
        return f"body: not valid JSON ({why}{at}); {_SHAPE}"
    if not loc and kind in ("missing", "model_attributes_type", "dict_type", "model_type"):
        return f"body: {first.get('msg', 'invalid')}; {_SHAPE}"
    where = ".".join(str(x) for x in loc) or "body"
    return f"{where}: {first.get('msg', 'invalid request')}"


class BodyLimit:
    """ASGI middleware that refuses a request body once more than ``limit`` bytes have streamed in.

    The guard checks Content-Length before anything is read; a chunked upload has none, and
    would otherwise be read whole into memory before any limit applied.
    """

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                # FastAPI passes an HTTPException from the body read through to the handlers: a 413
                raise StarletteHTTPException(413, f"request body is over the {self.limit:,}-byte limit")
            return message

        await self.app(scope, counted, send)


def load_predictors(specs: list[str], backend: str = "torch") -> dict[str, object]:
    """``name=RUN_DIR`` or ``RUN_DIR`` (named after its folder) -> loaded predictors, checked now."""
    from fenlei.inference import load

    out: dict[str, object] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).name, spec
        if not name or "/" in name:
            raise FenleiError(f"{spec}: a model name must be a plain word (name=RUN_DIR)")
        if name in out:
            raise FenleiError(f"{spec}: two models named {name!r}; use name=RUN_DIR to tell them apart")
        out[name] = load(path, backend)
    return out
