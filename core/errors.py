"""The API's error body (``{"detail": str, "code": str, ...}``) and its exception handlers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
}


class ApiError(Exception):
    """An error the client can act on; rendered as ``{"detail", "code", **extra}``."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


class NotFound(ApiError):
    status_code, code = 404, "not_found"


class Forbidden(ApiError):
    status_code, code = 403, "forbidden"


class Unauthorized(ApiError):
    status_code, code = 401, "unauthorized"

    def __init__(self, detail: str = "Not authenticated.", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Conflict(ApiError):
    status_code, code = 409, "conflict"


class PreconditionFailed(ApiError):
    status_code, code = 412, "precondition_failed"


class PreconditionRequired(ApiError):
    status_code, code = 428, "precondition_required"


class ValidationFailed(ApiError):
    """A semantic validation error raised by a service, naming the field."""

    status_code, code = 422, "validation_error"


class RuleViolation(ApiError):
    """An assignment that breaks a dispatch rule; ``rule`` names which one."""

    status_code, code = 422, "rule_violation"

    def __init__(self, rule: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, rule=rule, **extra)
        self.rule = rule


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def validation_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Shape pydantic errors as the contract's body: the first one named in ``detail``."""
    cleaned = [
        {
            "loc": list(e.get("loc", ())),
            "field": _loc(e.get("loc", ())),
            "msg": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in errors
    ]
    if cleaned:
        first = cleaned[0]
        detail = f"{first['field']}: {first['msg']}" if first["field"] else first["msg"]
    else:
        detail = "Invalid request."
    return {"detail": detail, "code": "validation_error", "errors": cleaned}


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as the contract's JSON body; nothing leaks a traceback."""

    @app.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_body(list(exc.errors())), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse(
            {"detail": detail, "code": code},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(StaleDataError)
    async def _stale(_req: Request, _exc: StaleDataError) -> JSONResponse:
        return JSONResponse(
            {
                "detail": "The resource was changed by someone else; reload it and retry.",
                "code": "precondition_failed",
            },
            status_code=412,
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_req: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", exc.orig)
        return JSONResponse(
            {
                "detail": "The change conflicts with existing data (a duplicate or a missing "
                "reference).",
                "code": "conflict",
            },
            status_code=409,
        )

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _out_of_range(_req: Request, exc: Exception) -> JSONResponse:
        # Values pydantic accepts but the database cannot hold: huge integers, dates past
        # year 9999, NUL characters in text.
        log.info("value out of range: %s", exc)
        return JSONResponse(
            {
                "detail": "A value in the request is outside what can be stored (too large a "
                "number or date, or a NUL character).",
                "code": "validation_error",
                "errors": [],
            },
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            {"detail": "Internal server error.", "code": "internal_error"}, status_code=500
        )
