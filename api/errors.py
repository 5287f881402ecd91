"""Domain errors -> RFC 9457 problem details (application/problem+json), registered once.

Bodies never echo submitted values (FastAPI's default 422 body includes the `input`, which
could be an ID or phone number) and never carry raw database messages.
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

# pydantic error types -> zh-CN messages (the English text may quote the input)
_PYDANTIC_MESSAGES = {
    "missing": "缺少必填字段",
    "string_type": "应为文本",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "string_pattern_mismatch": "格式不正确",
    "string_too_short": "内容太短",
    "string_too_long": "内容太长",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
    "greater_than": "数值太小",
    "less_than": "数值太大",
    "extra_forbidden": "不允许的字段",
    "json_invalid": "不是有效的 JSON",
    "model_attributes_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为数组",
    "too_short": "元素太少",
    "too_long": "元素太多",
    "value_error": "取值无效",
    "union_tag_invalid": "几何类型不被接受",
    "union_tag_not_found": "缺少几何类型 type",
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


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form")]
    return ".".join(parts) or "body"


def register(app: FastAPI) -> None:
    @app.exception_handler(GeoregError)
    async def domain_error(request: Request, exc: GeoregError) -> JSONResponse:
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return problem(status, exc.code, exc.title, exc.detail, request, exc.errors, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [FieldError(_field_of(tuple(e.get("loc", ()))), e.get("type", "invalid"),
                             _PYDANTIC_MESSAGES.get(e.get("type", ""), "取值无效"))
                  for e in exc.errors()]
        return problem(422, "invalid_input", InvalidInput.title, "请求参数或内容不符合要求",
                       request, errors)

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
