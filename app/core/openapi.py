"""The OpenAPI document: errors documented as problem+json, written to openapi/openapi.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.errors import PROBLEM_JSON

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; `type` is stable per error kind.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["type", "title", "status"],
    "additionalProperties": True,
}

_COMMON_ERRORS = {
    "400": "Malformed request, such as a cursor this API did not issue.",
    "401": "No API key or token, or an unknown, revoked or expired one.",
    "404": "No such resource.",
    "409": "Conflicts with the current state (see the problem type).",
    "413": "Request body too large.",
    "403": "The key lacks the scope this endpoint needs.",
    "422": "The request does not match the schema.",
    "429": "Too many requests; see Retry-After.",
    "500": "Unexpected error.",
    "503": "The database is unavailable; retry later.",
}


# Models documented as components although no route declares them as a body parameter
# (routes that read their body themselves for speed or per-item validation).
_extra_schemas: dict[str, dict[str, Any]] = {}


def document_schema(name: str, schema: dict[str, Any]) -> None:
    _extra_schemas[name] = schema


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas.update(_extra_schemas)
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            responses = op.setdefault("responses", {})
            secured = bool(op.get("security"))
            codes = ["422", "500"] + (["401", "403", "429", "503"] if secured else [])
            if path.startswith("/v1/"):
                codes.append("503")
            params = op.get("parameters", [])
            if any(p.get("name") == "cursor" for p in params):
                codes.append("400")
            if any(p.get("in") == "path" for p in params):
                codes.append("404")
            if "requestBody" in op:
                codes.append("413")
            if method != "get":
                codes.append("409")
            for code in codes:
                responses.setdefault(code, {"description": _COMMON_ERRORS[code]})
            for code, resp in responses.items():
                if code[0] in "45":
                    responses[code] = _problem_response(resp.get("description") or "Error")
    return schema


def install_openapi(app: FastAPI) -> None:
    def _openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = _openapi  # type: ignore[method-assign]


def render(app: FastAPI) -> str:
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
