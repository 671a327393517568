"""The route template of a request, found in one regex match, is the one the metrics
library's walk over every route finds (app/core/route_templates.py)."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI
from prometheus_fastapi_instrumentator.routing import _effective_routes, get_route_name
from starlette.requests import HTTPConnection
from starlette.routing import Match

from app.core.route_templates import RouteTemplates, route_name, screen_included_routers
from app.main import create_app

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "7", path)


def scope_of(app: FastAPI, method: str, path: str, root_path: str = "") -> dict:
    return {"type": "http", "app": app, "method": method, "path": path, "root_path": root_path}


def both(app: FastAPI, method: str, path: str, root_path: str = "") -> list[tuple]:
    scope = scope_of(app, method, path, root_path)
    return [
        (
            route_name(scope, include_root_path=include),
            get_route_name(HTTPConnection(scope), should_include_root_path=include),
        )
        for include in (True, False)
    ]


def test_every_route_of_the_app_gets_the_template_the_library_finds(app):
    templates = [r.path for r in _effective_routes(app.routes)]
    assert RouteTemplates(app.routes).plain
    paths = {concrete(t) for t in templates}
    # Unknown paths, a trailing slash away from a route, and not a route at all.
    paths |= {p + "/" for p in paths} | {p.rstrip("/") for p in paths if p != "/"}
    paths |= {"/no-such-thing/13912345678", "/api/v1/tasks/abc", "/", ""}
    checked = 0
    for path in paths:
        for method in METHODS:
            for ours, library in both(app, method, path):
                assert ours == library, (method, path)
                checked += 1
    assert checked > 1000


def test_a_wrong_method_is_named_by_the_route_whose_path_matches(app):
    [(ours, library), _] = both(app, "PUT", "/api/v1/tasks/7/check-ins")
    assert ours == library == "/api/v1/tasks/{task_id}/check-ins"


@pytest.mark.parametrize("root_path", ["/behind-proxy"])
def test_a_root_path_is_stripped_before_matching(app, root_path):
    for ours, library in both(app, "GET", root_path + "/api/v1/tasks/7", root_path):
        assert ours == library
    assert (
        route_name(
            scope_of(app, "GET", root_path + "/api/v1/tasks/7", root_path), include_root_path=False
        )
        == "/api/v1/tasks/{task_id}"
    )


def test_an_app_with_a_mount_is_left_to_the_library():
    inner = FastAPI()

    @inner.get("/ping/{n}")
    def ping(n: int) -> int:
        return n

    outer = FastAPI()
    outer.mount("/sub", inner)
    assert not RouteTemplates(outer.routes).plain
    for ours, library in both(outer, "GET", "/sub/ping/3"):
        assert ours == library == "/sub/ping/{n}"


def _probe_paths(app) -> list[str]:
    """Every route's path made concrete, each with a trailing slash too, and a few that
    no route has."""
    paths = {concrete(r.path) for r in _effective_routes(app.routes)}
    paths |= {p + "/" for p in paths} | {"/no-such-thing/1", "/api/v1/tasks/abc", "/", ""}
    return sorted(paths)


def test_each_router_declines_what_its_walk_would_decline_and_walks_the_rest(app):
    screened = [r for r in app.router.routes if "matches" in vars(r)]
    assert len(screened) > 20
    paths = _probe_paths(app)
    for included in screened:
        for path in paths:
            for method in ("GET", "POST", "DELETE"):
                scope = {"type": "http", "app": app, "method": method, "path": path}
                walked = type(included).matches(included, dict(scope))
                assert included.matches(dict(scope)) == walked, (method, path)


def test_each_router_picks_the_route_its_walk_picks_and_walks_once(app):
    screened = [r for r in app.router.routes if "_match" in vars(r)]
    assert len(screened) > 20
    paths = _probe_paths(app)
    for included in screened:
        for path in paths:
            for method in METHODS:
                scope = {"type": "http", "app": app, "method": method, "path": path}
                walked = type(included)._match(included, dict(scope))
                picked = dict(scope)
                first = included._match(picked)
                assert first == walked, (method, path)
                # The second walk of the same request (to handle it) is the first's answer.
                again = included._match(picked)
                assert again == walked, (method, path)
                if walked[0] != Match.NONE:
                    assert again[1] is not first[1]  # each walk gets its own child scope


def test_a_router_given_a_route_later_is_walked_whole():
    router = APIRouter()

    @router.get("/first")
    async def first() -> int:
        return 1

    app = FastAPI()
    app.include_router(router, prefix="/v1")
    screen_included_routers(app)

    @router.get("/added-later")
    async def added_later() -> int:
        return 2

    (included,) = app.router.routes[-1:]
    scope = {"type": "http", "app": app, "method": "GET", "path": "/v1/added-later"}
    assert included.matches(scope)[0] == Match.FULL
    assert included._match(dict(scope))[0] == Match.FULL


async def test_a_new_app_builds_a_routers_route_contexts_only_when_a_request_reaches_it(
    settings,
):
    app = create_app(settings)
    try:
        included = [r for r in app.router.routes if "_match" in vars(r)]
        # FastAPI builds them on its router's first walk; the screens do not build them.
        assert all(r._effective_candidates_version is None for r in included)
        scope = {"type": "http", "app": app, "method": "GET", "path": "/api/v1/tasks/7"}
        assert route_name(dict(scope), include_root_path=False) == "/api/v1/tasks/{task_id}"
        assert all(r._effective_candidates_version is None for r in included)
        reached = [r for r in included if r.matches(dict(scope))[0] == Match.FULL]
        assert len(reached) == 1
        assert reached[0]._match(dict(scope))[0] == Match.FULL
        assert [r for r in included if r._effective_candidates_version is not None] == reached
    finally:
        await app.state.engine.dispose()
        await app.state.replica.dispose()
