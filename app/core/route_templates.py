"""The route template of a request (`/api/v1/tasks/{task_id}`), found in one regex match.

The metrics middleware and the access log label each request by its template, as
prometheus-fastapi-instrumentator's `get_route_name` finds it: the first route
whose path and method match, else the first whose path matches. That function walks
every route (some 260) in Python before each request, calling each one's `matches`,
which cost ~0.2 ms of CPU a request twice over (docs/PERFORMANCE.md, round 7). Here
the routes' own path regexes are joined once per method into one alternation that
the `re` engine tries in order, so the answer is the same and costs one match.

An app whose routes are not all plain (a mounted sub-application, the WeChat stub in
development) is left to the library's walk, which handles any shape.
"""

from __future__ import annotations

import re
from typing import Any

from prometheus_fastapi_instrumentator.routing import _effective_routes, get_route_name
from starlette._utils import get_route_path
from starlette.requests import HTTPConnection
from starlette.routing import Match, Route, compile_path
from starlette.types import Scope

# A route's parameter group, `(?P<task_id>`: joined, only the route's own group counts.
_NAMED_GROUP = re.compile(r"\(\?P<[^>]+>")


def _plain(route: Any) -> bool:
    """An HTTP route matched by its path regex and methods alone."""
    if isinstance(route, _Planned):
        return bool(route.methods)
    original = getattr(route, "original_route", None)
    if original is not None:  # FastAPI's route of an included router
        from fastapi.routing import APIRoute

        return (
            isinstance(original, APIRoute) and route.path_regex is not None and bool(route.methods)
        )
    # A Starlette route without methods answers any: left to the library.
    return isinstance(route, Route) and bool(route.methods)


class _Planned:
    """What matching needs of an included router's FastAPI route, read from the route
    and its inclusion's prefix as FastAPI's effective context will compute it
    (`_populate_api_route_state`: `compile_path(prefix + path)`, the route's methods),
    without building that context: building one (its dependencies, its response
    model's validators) is what FastAPI defers to the first walk of its router, and
    building all of them for the screens was ~1 s of CPU per `create_app`."""

    __slots__ = ("methods", "path", "path_regex")

    def __init__(self, path: str, methods: set[str]) -> None:
        self.path = path
        self.path_regex = compile_path(path)[0]
        self.methods = methods


def _planned(included: Any) -> list[_Planned] | None:
    """An included router's routes as `_Planned`, in its candidates' order, or None
    when it holds anything but FastAPI routes (a nested router, a mount, a frontend
    group), whose contexts are left to the library to build."""
    from fastapi.routing import APIRoute

    routes = included.original_router.routes
    if not all(isinstance(r, APIRoute) for r in routes):
        return None
    context = included.include_context
    return [_Planned(context.path_for(r), set(r.methods)) for r in routes]


def _routes_of(routes: list[Any]) -> list[Any]:
    """`_effective_routes` (the library's flat list of routes), with an included
    router of FastAPI routes alone given as `_Planned` (path, regex, methods), which
    answer the same and cost no effective context."""
    flat: list[Any] = []
    for route in routes:
        included = callable(getattr(route, "effective_candidates", None))
        planned = _planned(route) if included else None
        flat.extend(planned if planned is not None else _effective_routes([route]))
    return flat


def _alternation(templates: list[tuple[str, str]]) -> re.Pattern[str] | None:
    if not templates:
        return None
    parts = []
    for i, (pattern, _) in enumerate(templates):
        body = _NAMED_GROUP.sub("(?:", pattern.removeprefix("^").removesuffix("$"))
        parts.append(f"(?P<r{i}>{body})")
    return re.compile("^(?:" + "|".join(parts) + ")$")


class RouteTemplates:
    """The templates of one app's routes, by method and for any method."""

    def __init__(self, routes: list[Any]) -> None:
        self.count = len(routes)
        effective = _routes_of(routes)
        self.plain = all(_plain(r) for r in effective)
        self._by_method: dict[str, tuple[re.Pattern[str] | None, list[str]]] = {}
        self._any: tuple[re.Pattern[str] | None, list[str]] = (None, [])
        if not self.plain:
            return
        every = [(r.path_regex.pattern, r.path) for r in effective]
        self._any = (_alternation(every), [path for _, path in every])
        for method in {m for r in effective for m in r.methods}:
            chosen = [(r.path_regex.pattern, r.path) for r in effective if method in r.methods]
            self._by_method[method] = (_alternation(chosen), [path for _, path in chosen])

    @staticmethod
    def _first(table: tuple[re.Pattern[str] | None, list[str]], path: str) -> str | None:
        pattern, paths = table
        if pattern is None:
            return None
        match = pattern.match(path)
        if match is None or match.lastgroup is None:
            return None
        return paths[int(match.lastgroup[1:])]

    def find(self, path: str, method: str) -> str | None:
        full = self._by_method.get(method)
        if full is not None:
            found = self._first(full, path)
            if found is not None:
                return found
        return self._first(self._any, path)


def route_name(scope: Scope, *, include_root_path: bool) -> str | None:
    """The template of the route that answers `scope`, None when none does; the same
    answer as `prometheus_fastapi_instrumentator.routing.get_route_name`."""
    app = scope.get("app")
    routes = getattr(app, "routes", None)
    if not routes:
        return None
    # Built on the first request, when every router is included; rebuilt if one is added.
    state = vars(app)
    templates: RouteTemplates | None = state.get("_route_templates")
    if templates is None or templates.count != len(routes):
        templates = RouteTemplates(routes)
        state["_route_templates"] = templates
    if not templates.plain:
        return get_route_name(HTTPConnection(scope), should_include_root_path=include_root_path)
    # The metrics middleware and the access log both ask, once each per request.
    asked = (scope.get("path"), scope["method"], scope.get("root_path"), templates)
    kept = scope.get(_TEMPLATE)
    if kept is not None and kept[0] == asked:
        name, templated = kept[1]
    else:
        name, templated = _template_of(scope, app, templates)
        scope[_TEMPLATE] = (asked, (name, templated))
    if name is None or not templated:
        return name
    root_path = getattr(app, "root_path", "") or ""
    if not include_root_path or not root_path:
        return name
    return root_path.rstrip("/") + name


# The template found for the request being served, kept on its scope.
_TEMPLATE = "chuangwen.route_template"


def _template_of(scope: Scope, app: Any, templates: RouteTemplates) -> tuple[str | None, bool]:
    """The route's template (True), the path as requested when a trailing slash away
    from one (False), or None."""
    name = templates.find(get_route_path(scope), scope["method"])
    if name is None:
        # As the library: a path that only a trailing slash away from a route is
        # redirected by the router, and is reported as requested.
        router = getattr(app, "router", None)
        if router is not None and getattr(router, "redirect_slashes", False):
            path: str = scope.get("path", "")
            toggled = path[:-1] if path.endswith("/") else path + "/"
            if toggled and toggled != path:
                moved = templates.find(get_route_path({**scope, "path": toggled}), scope["method"])
                if moved is not None:
                    return path, False
        return None, False
    return name, True


# --- the router's own walk ---------------------------------------------------------------
# FastAPI finds a request's route by asking every included router in turn, and each
# asks each of its routes (with bookkeeping in the scope around every question): a
# check-in, in the sixth router, was 34 route matches and 8 router walks, ~10 % of its
# CPU (docs/PERFORMANCE.md, round 8). A router none of whose routes' paths match the
# request's cannot answer it (its walk ends in Match.NONE), which one regex tells.


class _Pick:
    """Which of an included router's routes answers a request: the first whose path
    and method match (FULL), else the first whose path matches (PARTIAL), as its walk
    (`_IncludedRouter._match`) decides route by route, found in one regex match.
    `candidates` are `_Planned`, in the order of the router's effective candidates."""

    def __init__(self, candidates: list[_Planned]) -> None:
        every = [(c.path_regex.pattern, str(i)) for i, c in enumerate(candidates)]
        self._any = _alternation(every), [int(i) for _, i in every]
        self._by_method: dict[str, tuple[re.Pattern[str] | None, list[int]]] = {}
        for method in {m for c in candidates for m in c.methods or ()}:
            chosen = [
                (c.path_regex.pattern, str(i))
                for i, c in enumerate(candidates)
                if c.methods and method in c.methods
            ]
            self._by_method[method] = _alternation(chosen), [int(i) for _, i in chosen]

    @staticmethod
    def _first(table: tuple[re.Pattern[str] | None, list[int]], path: str) -> int | None:
        pattern, indices = table
        match = pattern.match(path) if pattern is not None else None
        if match is None or match.lastgroup is None:
            return None
        return indices[int(match.lastgroup[1:])]

    def index(self, path: str, method: str) -> int | None:
        table = self._by_method.get(method)
        found = self._first(table, path) if table is not None else None
        return found if found is not None else self._first(self._any, path)


# The walk's answer for the request being routed, kept on its scope: FastAPI walks the
# chosen router twice, once to learn that it matches and again to handle the request.
_PICKED = "chuangwen.route_pick"


def screen_included_routers(app: Any) -> None:
    """Let each included router of `app` decline at once a request whose path none
    of its routes has, and pick the route of one it has in one regex match, walking
    it once per request instead of twice. Call it once every router is included: a
    router changed afterwards (its routes version moves) is walked whole again."""
    from fastapi.routing import (
        _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
        _SCOPE_MISSING,
        _get_fastapi_scope,
        _restore_fastapi_scope_key,
    )

    for included in app.router.routes:
        if not callable(getattr(included, "effective_candidates", None)):
            continue
        # Planned from the routes' paths: a router's effective contexts are built by
        # FastAPI when a request first reaches it, as without the screens.
        planned = _planned(included)
        if not planned:
            continue
        screen = _alternation([(p.path_regex.pattern, p.path) for p in planned])
        assert screen is not None
        router = included.original_router
        built = router._routes_version
        walk = included.matches
        walk_routes = included._match
        pick = _Pick(planned)

        def matches(
            scope: Scope,
            screen: re.Pattern[str] = screen,
            router: Any = router,
            built: int = built,
            walk: Any = walk,
        ) -> tuple[Match, Scope]:
            if (
                scope["type"] == "http"
                and router._routes_version == built
                and screen.match(get_route_path(scope)) is None
            ):
                return Match.NONE, {}
            result: tuple[Match, Scope] = walk(scope)
            return result

        def match_route(
            scope: Scope,
            included: Any = included,
            router: Any = router,
            built: int = built,
            walk_routes: Any = walk_routes,
            pick: _Pick = pick,
        ) -> tuple[Match, Scope, Any, Any]:
            if scope["type"] != "http" or router._routes_version != built:
                walked: tuple[Match, Scope, Any, Any] = walk_routes(scope)
                return walked
            path = get_route_path(scope)
            method = scope["method"]
            kept = scope.get(_PICKED)
            if kept is not None and kept[0] is included and kept[1] == path and kept[2] == method:
                picked: tuple[Match, Scope, Any, Any] = kept[3]
                return picked
            index = pick.index(path, method)
            if index is None:
                picked = Match.NONE, {}, None, None
            else:
                # The walk's own step for the chosen route: its match is asked with
                # its effective context on the scope, as FastAPI asks each candidate.
                # Its router's contexts are built here the first time, as its walk
                # would build them (the same version: `built` was checked above).
                candidate = included.effective_candidates()[index]
                fastapi_scope = _get_fastapi_scope(scope)
                previous = fastapi_scope.get(_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY, _SCOPE_MISSING)
                fastapi_scope[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = candidate
                try:
                    match, child_scope = candidate.original_route.matches(scope)
                finally:
                    _restore_fastapi_scope_key(
                        scope, _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY, previous
                    )
                picked = match, child_scope, candidate.original_route, candidate
            # Kept with a copy of its child scope: the first walk's is thrown away by
            # FastAPI, the second's is merged into the request's scope.
            scope[_PICKED] = (included, path, method, picked)
            return picked[0], dict(picked[1]), picked[2], picked[3]

        included.matches = matches
        included._match = match_route
