"""The server's OpenAPI document, made to say what the server really does.

FastAPI's own document declares only 200 and a 422 body (``{"detail": [...]}``) the server never
sends. Here every operation also declares the statuses ``app.py`` answers with its one error body
``{"error", "status"}`` — 401 (when a token is set), 404, 405 (with ``Allow``), 413, 422, and
400/501 where a body is read or attribution runs — and the request schemas carry the limits the
server checks (at least one text; ``max_texts`` texts of ``max_chars`` characters), so a client
generated from ``/openapi.json`` or a schema fuzzer sees no mismatch.
"""

from __future__ import annotations

import copy

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR = {
    "type": "object",
    "title": "Error",
    "required": ["error", "status"],
    "properties": {
        "error": {"type": "string", "description": "What went wrong and what to do."},
        "status": {"type": "integer", "description": "The HTTP status, repeated."},
    },
}

WHY = {
    400: "The body is not UTF-8 JSON, or the request cannot be explained (an empty text, an unknown label).",
    401: "Missing or wrong bearer token (Authorization: Bearer <token>).",
    404: "No model of this name is served.",
    405: "The path exists but not with this method; the Allow header lists the methods.",
    413: "The body is larger than any request within the limits could be.",
    422: "Not a request of this schema: no texts, too many, one too long, a wrong type, an unknown field.",
    501: "This backend or install cannot explain.",
}


def _error(status: int) -> dict:
    answer = {
        "description": WHY[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status == 405:
        answer["headers"] = {"Allow": {"description": "Methods of this path.", "schema": {"type": "string"}}}
    return answer


def _limit_texts(schema: dict, max_texts: int, max_chars: int, words: bool) -> None:
    texts = schema.get("properties", {}).get("texts")
    if texts is None:
        return
    texts.update(minItems=1, maxItems=max_texts)
    items = texts.setdefault("items", {"type": "string"})
    items["maxLength"] = max_chars
    if words:  # explaining a blank text is refused (400): there are no tokens to score
        # a character that is not space to Python's str.strip (which also strips \x1c-\x1f, \x85)
        items["pattern"] = r"[^\s\x1c-\x1f\x85]"


def _label_enum(request: dict, names: list[str]) -> None:
    label = request.get("properties", {}).get("label")
    if label is not None:
        label.pop("type", None)
        label["anyOf"] = [{"type": "string", "enum": names}, {"type": "null"}]


def contract_schema(
    app: FastAPI, max_texts: int, max_chars: int, token: bool, labels: dict[str, list[str]]
) -> dict:
    """The OpenAPI document of ``app`` with every status and limit the server enforces;
    ``labels``: each served model's label names, the default model first (``/explain``'s
    ``label`` is one of its model's; under ``/models/{name}/`` one of any served model's)."""
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    parts = schema.setdefault("components", {}).setdefault("schemas", {})
    parts.pop("HTTPValidationError", None)
    parts.pop("ValidationError", None)
    parts["Error"] = ERROR
    for name in ("PredictRequest", "ExplainRequest"):
        if name in parts:
            _limit_texts(parts[name], max_texts, max_chars, words=name == "ExplainRequest")
    explain = parts.get("ExplainRequest")
    if explain is not None:  # any other label is refused with 400
        every = list(dict.fromkeys(n for names in labels.values() for n in names))
        _label_enum(explain, every)
        own = copy.deepcopy(explain)  # the default model's routes: exactly its labels
        _label_enum(own, next(iter(labels.values())))
        body = schema.get("paths", {}).get("/explain", {}).get("post", {}).get("requestBody", {})
        for media in body.get("content", {}).values():
            media["schema"] = own
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            statuses = [405, 413]
            if "{name}" in path:
                statuses.append(404)
            if token and path != "/health":
                statuses.append(401)
            if method == "post" or "422" in op.get("responses", {}):  # FastAPI's own 422
                statuses += [400, 422] if method == "post" else [422]
            if path.endswith("/explain"):
                statuses.append(501)
            responses = op.setdefault("responses", {})
            for status in sorted(statuses):
                responses[str(status)] = _error(status)
    return schema
