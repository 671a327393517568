"""The request handler of a route: FastAPI's, with its dependencies solved by a plan
made once per route instead of worked out again on every request.

FastAPI's `solve_dependencies` recomputes on each call, for every dependency of the
route, whether it is a generator, its cache key (walking its sub-dependencies for
security scopes), whether it is overridden, and makes a `Response` for parameters
that may ask for one; it then asks the path, query, header and cookie parameters of
every dependency, asked or not. For a check-in that was ~13 % of its CPU with what
it awaits (docs/PERFORMANCE.md, round 9). None of it changes once the route is
built, so `plan` works it out then, and `compiled_handler` runs the same steps in
the same order with the same rules:

- each dependency's own dependencies first, depth first, in declaration order;
- a dependency whose own dependencies or parameters failed validation is not called,
  its errors are kept and the others go on; the endpoint runs only when none failed,
  else 422 with every error, in FastAPI's order;
- a dependency is called once per request (its cache key: the callable, its security
  scopes, its scope), its sub-tree and parameters validated again at every place it
  appears (so a repeated parameter's error is reported as often as FastAPI does);
  a sub-tree that can neither fail nor call anything again is not walked twice;
- `yield` dependencies are entered by FastAPI's own `_solve_generator`.

Whatever the plan does not cover is FastAPI's handler, unchanged: a route using
`Response`, `BackgroundTasks`, `SecurityScopes`, WebSocket or dependency
concurrency limits, a form body, a streamed answer (SSE, JSON lines, a generator
endpoint), a sync endpoint; and any request while the app has dependency overrides
or FastAPI's OpenTelemetry bridge is recording it.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import params
from fastapi._body_limit import get_body_limit_error
from fastapi._compat import ModelField
from fastapi._compat.shared import field_annotation_is_sequence
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import (
    Dependant,
    _get_cache_key,
    _is_async_gen_callable,
    _is_coroutine_callable,
    _is_gen_callable,
)
from fastapi.dependencies.utils import (
    _get_param_aliases,
    _get_param_model,
    _is_json_field,
    _solve_generator,
    _validate_value_with_model_field,
    request_body_to_args,
    request_params_to_args,
)
from fastapi.exceptions import RequestValidationError
from fastapi.routing import _extract_endpoint_context, serialize_response
from fastapi.telemetry._api import _get_request_telemetry
from fastapi.utils import is_body_allowed_for_status_code
from pydantic_core import PydanticUndefined
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Undefined = PydanticUndefined

_GENERATOR, _COROUTINE, _SYNC = 0, 1, 2


@dataclass(slots=True)
class _Param:
    """A path, query, header or cookie parameter whose value is the request's one
    value under its name, or none: not a model of parameters, not a list, not JSON."""

    field: ModelField
    aliases: list[tuple[str, str]]
    location: str


# The request's attribute each kind of parameter is read from, in FastAPI's order.
_SOURCES = ("path_params", "query_params", "headers", "cookies")


@dataclass(slots=True)
class _Params:
    """One kind of a dependant's parameters: `plain` when every one of them is a
    `_Param`, else None and FastAPI's `request_params_to_args` reads them all."""

    source: str
    fields: list[ModelField]
    plain: list[_Param] | None


@dataclass(slots=True)
class _Node:
    """One dependant (the endpoint or a dependency) and what it asks for."""

    dependant: Dependant
    subs: list[_Sub]
    params: list[_Params]
    # No parameters, body or sub-dependency anywhere below that could fail, and all
    # cached: walking it again once it is in the cache changes nothing.
    pure: bool


@dataclass(slots=True)
class _Sub:
    node: _Node
    call: Any
    key: Any
    use_cache: bool
    kind: int
    name: str | None
    function_scope: bool


def _supported(dependant: Dependant) -> bool:
    return (
        dependant.concurrency is None
        and dependant.websocket_param_name is None
        and dependant.response_param_name is None
        and dependant.background_tasks_param_name is None
        and dependant.security_scopes_param_name is None
        and all(_supported(sub) for sub in dependant.dependencies)
    )


def plan(dependant: Dependant) -> _Node:
    subs = []
    for sub in dependant.dependencies:
        call = sub.call
        if _is_gen_callable(call) or _is_async_gen_callable(call):
            kind = _GENERATOR
        elif _is_coroutine_callable(call):
            kind = _COROUTINE
        else:
            kind = _SYNC
        subs.append(
            _Sub(
                node=plan(sub),
                call=call,
                key=_get_cache_key(dependant=sub),
                use_cache=sub.use_cache,
                kind=kind,
                name=sub.name,
                function_scope=sub.scope == "function",
            )
        )
    pure = (
        not dependant.path_params
        and not dependant.query_params
        and not dependant.header_params
        and not dependant.cookie_params
        and not dependant.body_params
        and all(s.use_cache and s.node.pure for s in subs)
    )
    kinds = (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
    )
    params = [
        _Params(source=source, fields=fields, plain=_plain(fields))
        for source, fields in zip(_SOURCES, kinds, strict=True)
        if fields
    ]
    return _Node(dependant=dependant, subs=subs, params=params, pure=pure)


def _plain(fields: list[ModelField]) -> list[_Param] | None:
    """FastAPI asks, for every parameter on every request, whether its annotation
    is a sequence (walking it with `typing.get_origin`, twice) and works out its
    aliases: a tenth of a small read's CPU for one path parameter. Worked out here
    once; a parameter FastAPI reads another way leaves the lot to FastAPI."""
    plain = []
    for field in fields:
        if (
            _get_param_model(field) is not None
            or _is_json_field(field)
            or field_annotation_is_sequence(field.field_info.annotation)
        ):
            return None
        info = field.field_info
        assert isinstance(info, params.Param), "Params must be subclasses of Param"
        plain.append(
            _Param(field=field, aliases=_get_param_aliases(field), location=info.in_.value)
        )
    return plain


def _plain_params_to_args(plain: list[_Param], received: Any) -> tuple[dict[str, Any], list[Any]]:
    """`request_params_to_args` for `_Param`s, step for step: the first alias the
    request has (else the first), its value (none: validated as missing, or the
    default), validated by the field at the same location."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    for param in plain:
        aliases = param.aliases
        _, alias = next((pair for pair in aliases if pair[1] in received), aliases[0])
        value = received.get(alias, None)
        found, failed = _validate_value_with_model_field(
            field=param.field,
            value=Undefined if value is None else value,
            values=values,
            loc=(param.location, alias),
        )
        if failed:
            errors.extend(failed)
        else:
            values[param.field.name] = found
    return values, errors


async def _solve(
    node: _Node,
    request: Request,
    body: Any,
    embed_body_fields: bool,
    cache: dict[Any, Any],
) -> tuple[dict[str, Any], list[Any]]:
    """FastAPI's solve_dependencies for what the plan covers, step for step."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    for sub in node.subs:
        key = sub.key
        if sub.use_cache and sub.node.pure and key in cache:
            solved = cache[key]
        else:
            sub_values, sub_errors = await _solve(sub.node, request, body, embed_body_fields, cache)
            if sub_errors:
                errors.extend(sub_errors)
                continue
            if sub.use_cache and key in cache:
                solved = cache[key]
            elif sub.kind == _GENERATOR:
                scope = request.scope
                stack = scope[
                    "fastapi_function_astack" if sub.function_scope else "fastapi_inner_astack"
                ]
                solved = await _solve_generator(
                    request=request,
                    dependant=sub.node.dependant,
                    stack=stack,
                    sub_values=sub_values,
                )
            elif sub.kind == _COROUTINE:
                solved = await sub.call(**sub_values)
            else:
                solved = await run_in_threadpool(sub.call, **sub_values)
        if sub.name is not None:
            values[sub.name] = solved
        if key not in cache:
            cache[key] = solved
    dependant = node.dependant
    for kind in node.params:
        received = getattr(request, kind.source)
        if kind.plain is not None:
            found, failed = _plain_params_to_args(kind.plain, received)
        else:
            found, failed = request_params_to_args(kind.fields, received)
        values.update(found)
        errors += failed
    if dependant.body_params:
        found, failed = await request_body_to_args(
            body_fields=dependant.body_params,
            received_body=body,
            embed_body_fields=embed_body_fields,
        )
        values.update(found)
        errors.extend(failed)
    if dependant.http_connection_param_name:
        values[dependant.http_connection_param_name] = request
    if dependant.request_param_name:
        values[dependant.request_param_name] = request
    return values, errors


# Content types FastAPI reads as JSON, as it decides them (email.message), remembered.
_JSON_TYPES: dict[str, bool] = {}


def _is_json(content_type: str) -> bool:
    known = _JSON_TYPES.get(content_type)
    if known is None:
        message = email.message.Message()
        message["content-type"] = content_type
        subtype = message.get_content_subtype()
        known = message.get_content_maintype() == "application" and (
            subtype == "json" or subtype.endswith("+json")
        )
        if len(_JSON_TYPES) < 256:
            _JSON_TYPES[content_type] = known
    return known


def compiled_handler(route: Any, fallback: Handler) -> Handler:
    """The handler of `route` (an APIRoute or the effective context of an included
    one: FastAPI builds a handler for each), or `fallback` (FastAPI's) where the plan
    does not cover the route."""
    dependant: Dependant = route.dependant
    body_field = route.body_field
    response_class = route.response_class
    call = dependant.call
    if (
        call is None
        or not _supported(dependant)
        or not _is_coroutine_callable(call)
        or _is_gen_callable(call)
        or _is_async_gen_callable(call)
        or (body_field is not None and isinstance(body_field.field_info, params.Form))
        or route.stream_item_field is not None
        or route.is_json_stream
        or not isinstance(response_class, DefaultPlaceholder)
    ):
        return fallback
    root = plan(dependant)
    status_code = route.status_code
    response_field = route.response_field
    overrides = route.dependency_overrides_provider
    embed_body_fields = route._embed_body_fields
    strict = route.strict_content_type
    strict_content_type = strict.value if isinstance(strict, DefaultPlaceholder) else strict
    serialize = {
        "include": route.response_model_include,
        "exclude": route.response_model_exclude,
        "by_alias": route.response_model_by_alias,
        "exclude_unset": route.response_model_exclude_unset,
        "exclude_defaults": route.response_model_exclude_defaults,
        "exclude_none": route.response_model_exclude_none,
    }
    # The default response class, JSONResponse: FastAPI dumps the response model
    # straight to JSON bytes when there is one.
    json_response = response_class.value

    def endpoint_context(request: Request) -> Any:
        ctx = _extract_endpoint_context(call)
        if dependant.path:
            mount_path = request.scope.get("root_path", "").rstrip("/")
            ctx["path"] = f"{request.method} {mount_path}{dependant.path}"
        return ctx

    async def body_of(request: Request) -> Any:
        try:
            body_bytes = await request.body()
            if not body_bytes:
                return Undefined
            content_type = request.headers.get("content-type")
            json_wanted = _is_json(content_type) if content_type else not strict_content_type
            return await request.json() if json_wanted else body_bytes
        except json.JSONDecodeError as e:
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", e.pos),
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": e.msg},
                    }
                ],
                body=e.doc,
                endpoint_ctx=endpoint_context(request),
            ) from e
        except HTTPException:
            raise
        except Exception as e:
            if MAX_BODY_SIZE_SCOPE_KEY in request.scope and (error := get_body_limit_error(e)):
                raise error from e
            raise HTTPException(
                status_code=400, detail="There was an error parsing the body"
            ) from e

    async def handler(request: Request) -> Response:
        if _get_request_telemetry() is not None or (
            overrides is not None and getattr(overrides, "dependency_overrides", None)
        ):
            return await fallback(request)
        body = await body_of(request) if body_field is not None else Undefined
        values, errors = await _solve(root, request, body, embed_body_fields, {})
        if errors:
            raise RequestValidationError(
                errors,
                body=None if body is Undefined else body,
                endpoint_ctx=endpoint_context(request),
            )
        raw = await call(**values)
        if isinstance(raw, Response):
            return raw
        content = await serialize_response(
            field=response_field,
            response_content=raw,
            is_coroutine=True,
            endpoint_ctx=endpoint_context(request) if response_field is not None else None,
            dump_json=response_field is not None,
            **serialize,
        )
        args: dict[str, Any] = {"background": None}
        if status_code:
            args["status_code"] = status_code
        if response_field is not None:
            response = Response(content=content, media_type="application/json", **args)
        else:
            response = json_response(content, **args)
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        return response

    return handler
