"""Dependencies solved by the route's plan (app/edge/handler.py) give what FastAPI's
own solving gives: the same answers, errors in the same order, the same calls in the
same order, once per request, `yield` dependencies entered and left alike."""

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

import httpx
from fastapi import (
    APIRouter,
    Cookie,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
)
from fastapi.routing import APIRoute, _effective_route_context_var
from pydantic import BaseModel, Field
from starlette.responses import PlainTextResponse, Response

from app.edge.handler import compiled_handler, plan


class PlannedRoute(APIRoute):
    """The edge's handler without the edge's other steps."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        context = _effective_route_context_var.get()
        route = context if context is not None and context.original_route is self else self
        return compiled_handler(route, super().get_route_handler())


class Body(BaseModel):
    name: str = Field(min_length=1)
    size: int = 0


class Out(BaseModel):
    id: int
    name: str


# Dependencies and endpoints are defined inside build(): no `from __future__ import
# annotations` here, FastAPI reads their annotations at once.
def build(route_class: type[APIRoute]) -> tuple[FastAPI, list[str]]:
    calls: list[str] = []

    async def who(request: Request, x_who: Annotated[str | None, Header()] = None) -> str:
        calls.append(f"who:{x_who}")
        if x_who == "nobody":
            raise HTTPException(status_code=401, detail="who?")
        return x_who or "anon"

    async def org(who: Annotated[str, Depends(who)], org_id: Annotated[int, Query(ge=1)]) -> int:
        calls.append(f"org:{org_id}")
        return org_id

    async def thing(
        who: Annotated[str, Depends(who)], thing_id: Annotated[int, Path(ge=1, le=100)]
    ) -> int:
        calls.append(f"thing:{thing_id}")
        return thing_id

    async def opened() -> AsyncIterator[str]:
        calls.append("open")
        try:
            yield "session"
        finally:
            calls.append("close")

    def sync_dep(page: int = 1) -> int:
        calls.append(f"page:{page}")
        return page

    async def uncached(request: Request) -> int:
        calls.append("uncached")
        return len(calls)

    router = APIRouter(route_class=route_class)

    @router.get("/things/{thing_id}", response_model=Out)
    async def get_thing(
        t: Annotated[int, Depends(thing)],
        s: Annotated[str, Depends(opened)],
        w: Annotated[str, Depends(who)],
        u1: Annotated[int, Depends(uncached, use_cache=False)],
        u2: Annotated[int, Depends(uncached, use_cache=False)],
        page: Annotated[int, Depends(sync_dep)],
    ) -> Out:
        calls.append("endpoint")
        return Out(id=t, name=f"{w}/{s}/{page}/{u1 < u2}")

    @router.post("/orgs/{thing_id}/things", status_code=201)
    async def create(
        body: Body,
        o: Annotated[int, Depends(org)],
        t: Annotated[int, Depends(thing)],
    ) -> dict[str, Any]:
        calls.append("endpoint")
        return {"org": o, "thing": t, "body": body.model_dump()}

    @router.get("/plain/{thing_id}")
    async def plain(t: Annotated[int, Depends(thing)]) -> Response:
        return PlainTextResponse(f"thing {t}")

    @router.delete("/things/{thing_id}", status_code=204)
    async def delete(t: Annotated[int, Depends(thing)]) -> None:
        calls.append("endpoint")

    @router.get("/search")
    async def search(
        text: Annotated[str, Query(alias="query-text", min_length=2)],
        size: Annotated[int, Query(le=50)] = 20,
        session_id: Annotated[str | None, Cookie()] = None,
        x_trace_id: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        return {"text": text, "size": size, "session": session_id, "trace": x_trace_id}

    @router.get("/tagged")
    async def tagged(
        tags: Annotated[list[str], Query(min_length=1)], size: int = 20
    ) -> dict[str, Any]:
        return {"tags": tags, "size": size}

    app = FastAPI()
    app.include_router(router, prefix="/v1")
    return app, calls


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/v1/things/7", {}),
    ("GET", "/v1/things/7?page=3", {"headers": {"x-who": "ann"}}),
    ("GET", "/v1/things/0", {}),
    ("GET", "/v1/things/abc?page=x", {}),
    ("GET", "/v1/things/0", {"headers": {"x-who": "nobody"}}),
    ("POST", "/v1/orgs/5/things?org_id=2", {"json": {"name": "a", "size": 2}}),
    ("POST", "/v1/orgs/5/things", {"json": {"name": ""}}),
    (
        "POST",
        "/v1/orgs/500/things?org_id=0",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
    ),
    (
        "POST",
        "/v1/orgs/5/things?org_id=1",
        {"content": b'{"name": "b"}', "headers": {"content-type": "text/plain"}},
    ),
    (
        "POST",
        "/v1/orgs/5/things?org_id=1",
        {
            "content": b'{"name": "b"}',
            "headers": {"content-type": "application/vnd.x+json; charset=utf-8"},
        },
    ),
    ("POST", "/v1/orgs/5/things?org_id=1", {"content": b'{"name": "b"}'}),
    ("POST", "/v1/orgs/5/things?org_id=1", {}),
    ("GET", "/v1/plain/3", {}),
    ("DELETE", "/v1/things/3", {}),
    (
        "GET",
        "/v1/search?query-text=ab&size=5",
        {"headers": {"x-trace-id": "t1", "cookie": "session_id=s1"}},
    ),
    ("GET", "/v1/search?query-text=ab&query-text=cde", {}),
    ("GET", "/v1/search?text=ab&query-text=a&size=99", {}),
    ("GET", "/v1/search?size=", {}),
    ("GET", "/v1/tagged?tags=a&tags=b&size=3", {}),
    ("GET", "/v1/tagged?size=x", {}),
]


async def answers(route_class: type[APIRoute]) -> list[tuple[Any, ...]]:
    app, calls = build(route_class)
    out = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        for method, url, kwargs in REQUESTS:
            calls.clear()
            resp = await c.request(method, url, **kwargs)
            out.append(
                (method, url, resp.status_code, resp.content, dict(resp.headers), list(calls))
            )
    return out


async def test_the_plan_answers_as_fastapi_does():
    planned = await answers(PlannedRoute)
    theirs = await answers(APIRoute)
    for ours, fastapis in zip(planned, theirs, strict=True):
        assert ours == fastapis
    # The cases are what they claim to be: answers, refusals, a 401 before a 422.
    assert [a[2] for a in planned] == [
        200,
        200,
        422,
        422,
        401,
        201,
        422,
        422,
        422,
        201,
        422,
        422,
        200,
        204,
        200,
        200,
        422,
        422,
        200,
        422,
    ]


async def test_the_plan_is_used():
    app, _ = build(PlannedRoute)
    router = app.router.routes[-1].original_router
    handlers = [route.get_route_handler().__qualname__ for route in router.routes]
    assert all(h.startswith("compiled_handler") for h in handlers), handlers


def test_single_valued_parameters_are_read_by_the_plan_and_lists_by_fastapi():
    app, _ = build(PlannedRoute)
    router = app.router.routes[-1].original_router
    by_path = {route.path: route for route in router.routes}
    search = plan(by_path["/search"].dependant)
    assert [(k.source, k.plain is not None) for k in search.params] == [
        ("query_params", True),
        ("headers", True),
        ("cookies", True),
    ]
    tagged = plan(by_path["/tagged"].dependant)
    assert [(k.source, k.plain is not None) for k in tagged.params] == [("query_params", False)]
