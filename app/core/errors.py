"""One error hierarchy and one set of handlers: every error leaves as problem+json (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://touchpoint.dev/problems/"

log = logging.getLogger("touchpoint.errors")


class AppError(Exception):
    """Base of every error the service reports on purpose."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug

    def headers(self) -> dict[str, str]:
        return {}


class Unauthenticated(AppError):
    status, slug, title = 401, "unauthenticated", "Authentication required"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class IdempotencyConflict(Conflict):
    slug, title = "idempotency-conflict", "Same idempotency key, different request"


class Unprocessable(AppError):
    status, slug, title = 422, "unprocessable", "Request cannot be processed"


class InvalidCursor(AppError):
    status, slug, title = 400, "invalid-cursor", "Invalid pagination cursor"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _jsonable_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        out.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem(
            exc.status,
            exc.slug,
            exc.title,
            exc.detail,
            instance=request.url.path,
            headers=exc.headers(),
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(
            422,
            "validation",
            "Invalid request",
            "The request does not match the schema; see errors.",
            instance=request.url.path,
            errors=_jsonable_errors(exc.errors()),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(
            exc.status_code,
            slug,
            str(exc.detail),
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # A concurrent writer won a unique constraint race; nothing was applied.
        log.info("integrity conflict on %s: %s", request.url.path, exc.orig)
        return problem(
            409,
            "concurrent-conflict",
            "Conflicting concurrent write",
            "Another request changed the same data at the same time; nothing was applied. Retry.",
            instance=request.url.path,
        )

    @app.exception_handler(DBAPIError)
    @app.exception_handler(OSError)
    async def _operational(request: Request, exc: Exception) -> JSONResponse:
        # Connection refused, reset or invalidated (a database restart): nothing was applied.
        log.warning("database unavailable on %s: %s", request.url.path, type(exc).__name__)
        return problem(
            503,
            "database-unavailable",
            "Database unavailable",
            "The database did not answer; nothing was applied. Retry later.",
            instance=request.url.path,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "internal", "Internal server error", instance=request.url.path)
