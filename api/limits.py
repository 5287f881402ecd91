"""Request bodies bounded while they are read: the one owner of the body-size 413.

Also refuses a NUL in the query string or path, for every route at once (422).

An ASGI middleware in front of every route. A declared Content-Length over the route's limit
is answered at once, before a byte is read; a chunked (or lying) body is counted as it
arrives and the request is cut off at the first byte past the limit, so an oversized upload
is never spooled whole. Upload routes declare their file's limit with `upload_limit`; every
other call gets `json_body_mb`. The middleware also sets the importers' file-content limits
(importers/limits.py) from the app's Settings for the request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem
from georeg.config import Settings
from georeg.errors import FieldError
from importers import limits as file_limits

MB = 1024 * 1024
# multipart framing and the small form fields beside the file (crs, level, ...)
MULTIPART_SLACK = 64 * 1024

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SizeLimit:
    setting: str  # the Settings field, in MB
    advice: str  # zh-CN: what to do instead, e.g. 请分批导入

    def megabytes(self, settings: Settings) -> int:
        return int(getattr(settings, self.setting))

    def max_bytes(self, settings: Settings) -> int:
        return self.megabytes(settings) * MB

    def message(self, settings: Settings) -> str:
        return f"文件超过 {self.megabytes(settings)} MB，{self.advice}"


# Table sheets: patrols, certificates, credit events, rapid-test results, the MRL table.
SHEET_LIMIT = SizeLimit("sheet_file_mb", "请分批导入")
# Field point files (GeoJSON, CSV, XLSX, GPX, KML/KMZ) and the GeoJSON point upload.
POINT_FILE_LIMIT = SizeLimit("point_file_mb", "请分批上传")
# Township and grid boundaries (GeoJSON, zipped Shapefile, GeoPackage, KML/KMZ).
BOUNDARY_FILE_LIMIT = SizeLimit("boundary_file_mb", "请简化边界或分乡镇导入")


def upload_limit(limit: SizeLimit) -> Callable[[F], F]:
    """Mark an endpoint as an upload of at most `limit` (put it under the route decorator)."""
    def mark(endpoint: F) -> F:
        endpoint.upload_limit = limit  # type: ignore[attr-defined]
        return endpoint
    return mark


class _TooLarge(Exception):
    """Raised into the app from `receive` at the first byte past the limit: it stops reading."""


@dataclass(frozen=True)
class UploadRoute:
    path: re.Pattern[str]
    methods: frozenset[str]
    limit: SizeLimit


def upload_routes(routers: Iterable[APIRouter], prefix: str) -> list[UploadRoute]:
    """The routes marked with `upload_limit`, for `RequestLimits` (app.state.upload_routes)."""
    found = []
    for router in routers:
        for route in router.routes:
            limit = getattr(getattr(route, "endpoint", None), "upload_limit", None)
            if isinstance(route, APIRoute) and limit is not None:
                regex, _, _ = compile_path(prefix + route.path)
                found.append(UploadRoute(regex, frozenset(route.methods), limit))
    return found


def _route_limit(scope: Scope) -> SizeLimit | None:
    for route in getattr(scope["app"].state, "upload_routes", ()):
        if scope["method"] in route.methods and route.path.match(scope["path"]):
            return route.limit
    return None


def _nul_fields(scope: Scope) -> list[str]:
    """Query parameters (and the path) that carry a NUL: no text column can store one, and no
    name, code or search term has one, so the request is refused whatever the route."""
    query = scope.get("query_string", b"")
    names = []
    if b"%00" in query.lower() or b"\x00" in query:
        names = sorted({name or "query" for name, value in
                        parse_qsl(query.decode("latin-1"), keep_blank_values=True)
                        if "\x00" in name or "\x00" in value}) or ["query"]
    if "\x00" in scope.get("path", ""):
        names.append("path")
    return names


class RequestLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if nul := _nul_fields(scope):
            message = "不能包含空字符（NUL）"
            await problem(422, "invalid_input", "提交的数据有误", "请求参数或内容不符合要求",
                          Request(scope), [FieldError(n, "nul_character", message) for n in nul]
                          )(scope, receive, send)
            return
        settings: Settings = scope["app"].state.settings
        upload = _route_limit(scope)
        if upload is not None:
            max_bytes = upload.max_bytes(settings) + MULTIPART_SLACK
            message = upload.message(settings)
        else:
            max_bytes = settings.json_body_mb * MB
            message = f"请求内容超过 {settings.json_body_mb} MB 的上限"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await _answer(scope, receive, send, message, upload is not None)
            return

        received = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > max_bytes:
                    exceeded = True
                    raise _TooLarge()
            return msg

        async def guarded(msg: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the app made of the cut-off body: 413 is sent below
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            with file_limits.use(file_limits.FileLimits.of(settings)):
                await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _answer(scope, receive, send, message, upload is not None)


async def _answer(scope: Scope, receive: Receive, send: Send, message: str, upload: bool
                  ) -> None:

    response = problem(413, "payload_too_large", "提交的内容过大", message, Request(scope),
                       [FieldError("file" if upload else "body", "too_large", message)],
                       headers={"Connection": "close"})
    await response(scope, receive, send)
