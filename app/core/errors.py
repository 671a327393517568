"""Business errors carry their HTTP status; one handler renders them all as problem+json.

`title` and `detail` are plain Chinese a mini-program can show as is; `code` is the
stable string programs branch on.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import get_route_path

logger = logging.getLogger("app.errors")

PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    status = 400
    title = "请求有误"

    def __init__(self, code: str, detail: str | None = None, *, title: str | None = None):
        super().__init__(code)
        self.code = code
        self.detail = detail or self.title
        if title:
            self.title = title

    def extra(self) -> dict[str, Any]:
        return {}

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(AppError):
    status = 400
    title = "请求有误"


class Unauthorized(AppError):
    status = 401
    title = "未登录或登录已失效"


class Forbidden(AppError):
    status = 403
    title = "无权进行此操作"


class NotFound(AppError):
    status = 404
    title = "记录不存在"

    def __init__(self, detail: str = "记录不存在或无权查看", *, code: str = "not_found"):
        super().__init__(code, detail)


class Conflict(AppError):
    status = 409
    title = "操作冲突"


class PayloadTooLarge(AppError):
    status = 413
    title = "文件过大"


class UnsupportedMediaType(AppError):
    status = 415
    title = "不支持的文件类型"


class Unprocessable(AppError):
    status = 422
    title = "提交的内容无法处理"


class ServiceUnavailable(AppError):
    status = 503
    title = "服务暂时不可用"


class Problem(BaseModel):
    """The problem+json body (RFC 9457) with our stable `code`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str


class ValidationErrorItem(BaseModel):
    loc: list[str | int]
    msg: str


class ValidationProblem(Problem):
    errors: list[ValidationErrorItem]


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code}
    body.update(extra)
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# Statuses Starlette itself raises (unknown path, wrong method) get stable codes too.
_HTTP_CODES = {
    400: ("bad_request", "请求有误"),
    401: ("not_authenticated", "未登录或登录已失效"),
    403: ("forbidden", "无权进行此操作"),
    404: ("not_found", "记录不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("file_too_large", "请求内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
}


# A body sent as JSON that is not JSON: 400, whichever way it fails to parse.
MALFORMED_JSON = ("malformed_json", "请求内容不是有效的 JSON", "请求体无法按 JSON 解析")


def _malformed_json() -> JSONResponse:
    return problem_response(400, *MALFORMED_JSON)


def _sent_as_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # FastAPI's own 400 for a JSON body that did not decode: nesting deeper than
    # the parser goes, bytes that are not UTF-8.
    if exc.status_code == 400 and _sent_as_json(request):
        return _malformed_json()
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "请求未能完成"))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem_response(exc.status_code, code, title, title, headers=headers)


def _allowed_methods(request: Request) -> str:
    # Starlette's 405 names the methods of the first route whose path matched, but one
    # path is often served by several routes (GET and POST /users are two): the path
    # allows every method of every route it matches.
    path = get_route_path(request.scope)
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.path_regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods))


def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(
        exc.status, exc.code, exc.title, exc.detail, headers=exc.headers(), **exc.extra()
    )


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI reports a JSON syntax error as a validation error; it is not one.
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return _malformed_json()
    errors = [
        {
            "loc": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
        }
        for e in exc.errors()
    ]
    return problem_response(
        422, "validation_error", "提交的内容有误", "请检查填写的内容后重试", errors=errors
    )


def _database_down(request: Request, exc: Exception) -> JSONResponse:
    # Connection-level failures only; anything else is a bug and stays a 500.
    if isinstance(exc, DBAPIError) and not (
        isinstance(exc, OperationalError) or exc.connection_invalidated
    ):
        return _unexpected(request, exc)
    logger.error("database unavailable: %s", type(exc).__name__)
    return problem_response(
        503, "service_unavailable", "服务暂时不可用", "数据库暂时无法访问，请稍后重试"
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette runs a sync handler in a worker thread, where logger.exception would
    # find no current exception and log the message without its traceback.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "internal_error", "服务器内部错误", "服务器开小差了，请稍后重试")


def _client_gone(request: Request, exc: Exception) -> Response:
    # The client hung up before its request body was read (a phone losing signal):
    # nothing was done and nobody is listening. Not our error, so no traceback; 499
    # as nginx records such requests.
    return Response(status_code=499)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(DBAPIError, _database_down)
    app.add_exception_handler(ConnectionError, _database_down)
    # Every pooled connection busy for the whole pool timeout: overloaded, try later.
    app.add_exception_handler(PoolTimeoutError, _database_down)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
    _declare_unreadable_bodies(app)


def _declare_unreadable_bodies(app: FastAPI) -> None:
    """The OpenAPI document declares the 400 of a body that does not parse on every
    operation taking one: FastAPI declares the 422 of such routes, not this."""
    generate = app.openapi
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses = {
        "application/json": {
            "description": "The body is not JSON (`malformed_json`)",
            "content": problem,
        },
        "multipart/form-data": {
            "description": "The body is not a readable multipart form (`bad_request`)",
            "content": problem,
        },
    }

    def openapi() -> dict[str, Any]:
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for media_type in operation.get("requestBody", {}).get("content", {}):
                    if media_type in responses:
                        operation["responses"].setdefault("400", responses[media_type])
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# Declared on every router so the OpenAPI document tells integrators the error shape.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": desc}
    for status, desc in (
        (401, "Not authenticated (`not_authenticated`)"),
        (403, "Visible but not yours to change (`forbidden`)"),
        (404, "Missing or outside your reach (`not_found`)"),
        (408, "The request body stopped arriving (`request_timeout`); nothing was done"),
        (409, "Conflicts with the current state"),
        (413, "The request body is larger than any this API takes (`file_too_large`)"),
    )
}
PROBLEM_RESPONSES[422] = {
    "model": ValidationProblem,
    "content": {PROBLEM_JSON: {}},
    "description": "Validation failed (`validation_error`) or a business rule refused the input",
}
