"""Domain errors -> RFC 9457 problem details (application/problem+json), registered once.

Bodies never echo submitted values (FastAPI's default 422 body includes the `input`, which
could be an ID or phone number) and never carry raw database messages. Validation errors
get their zh-CN field messages from georeg.validation.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from georeg.errors import (
    Conflict,
    DatabaseFault,
    DatabaseUnavailable,
    FieldError,
    Forbidden,
    GeoregError,
    InvalidInput,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from georeg.validation import REQUEST_INVALID, REQUEST_PARTS, field_errors

log = logging.getLogger(__name__)

STATUS: dict[type[GeoregError], int] = {
    InvalidInput: 422,
    MalformedRequest: 400,
    UnsupportedMediaType: 415,
    PayloadTooLarge: 413,
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    DatabaseUnavailable: 503,
    DatabaseFault: 500,
}

def status_of(error: GeoregError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 400


def problem(status: int, code: str, title: str, detail: str, request: Request,
            errors: list[FieldError] | None = None, headers: dict[str, str] | None = None
            ) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:georeg:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        "errors": [{"field": e.field, "code": e.code, "message": e.message}
                   for e in errors or []],
    }
    return JSONResponse(body, status_code=status, headers=headers,
                        media_type="application/problem+json")


def register(app: FastAPI) -> None:
    @app.exception_handler(GeoregError)
    async def domain_error(request: Request, exc: GeoregError) -> JSONResponse:
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        if (retry := getattr(exc, "retry_after", None)) is not None:
            headers["Retry-After"] = str(retry)
        # The class names the problem: file readers' errors carry a finer `code` of their own,
        # which their field error already reports.
        return problem(status, type(exc).code, exc.title, exc.detail, request, exc.errors,
                       headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors(), drop=REQUEST_PARTS)
        return problem(422, "invalid_input", InvalidInput.title, REQUEST_INVALID, request,
                       errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "未找到", 405: "不支持的请求方法", 401: "未登录或登录已过期"}
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error")
        title = titles.get(exc.status_code, "请求无法处理")
        return problem(exc.status_code, code, title, title, request,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal_error", "服务器内部错误", "服务器内部错误，请稍后重试",
                       request)
