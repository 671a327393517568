"""The authorization matrix: every route × every kind of caller, with the status each gets.

The list of routes comes from the app itself, so a route added without a row here
fails `test_every_route_has_a_row_in_the_matrix`. Records outside a caller's reach
must answer exactly like missing ones (404), and no caller outside reach may get a
2xx that reveals or changes anything there.

Callers, against records in community C1 of street S1 (see tests/factories.py):
- anonymous: no token
- member: a party member of C1 with no role
- other_community_admin: the secretary of C2, C1's neighbour in the same street
- other_street_admin: the admin of street S2
- right: the admin who may do it (named per row)
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from app.main import create_app
from app.models.user import Role, RoleGrant
from tests.conftest import make_settings
from tests.factories import World, make_user

CALLERS = ("anonymous", "member", "other_community_admin", "other_street_admin", "right")
SKIPPED_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


@dataclass
class Req:
    path: str
    json: Any = None
    files: Any = None
    params: dict[str, Any] = field(default_factory=dict)


Build = Callable[[World, str], Awaitable[Req]]
Check = Callable[[World, str, Any], None]


@dataclass
class Row:
    right: str  # the world person who may do it
    expect: dict[str, int]
    build: Build
    check: Check | None = None


def statuses(
    anonymous: int, member: int, other_community: int, other_street: int, right: int
) -> dict[str, int]:
    return dict(
        zip(CALLERS, (anonymous, member, other_community, other_street, right), strict=True)
    )


def fixed(path: str, **kw: Any) -> Build:
    async def build(world: World, caller: str) -> Req:
        return Req(path=path.format(**{k: world[k].id for k in ("C1", "S1", "D")}), **kw)

    return build


async def _member_path(world: World, caller: str) -> Req:
    return Req(path=f"/api/v1/users/{world.user('member').id}")


async def _member_patch(world: World, caller: str) -> Req:
    return Req(path=f"/api/v1/users/{world.user('member').id}", json={"name": "改名"})


async def _org_create(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/orgs",
        json={
            "name": f"新社区{uuid.uuid4().hex[:6]}",
            "level": "community",
            "parent_id": world["S1"].id,
        },
    )


async def _org_patch(world: World, caller: str) -> Req:
    return Req(path=f"/api/v1/orgs/{world['C1'].id}", json={"name": "东关社区（新）"})


async def _user_create(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/users",
        json={"name": "新人", "phone": "13855556666", "community_id": world["C1"].id},
    )


async def _user_import(world: World, caller: str) -> Req:
    csv = f"姓名,手机号,社区\n新人,13855557777,{world['C1'].id}\n".encode()
    return Req(path="/api/v1/users/import", files={"file": ("r.csv", csv)})


def _import_check(world: World, caller: str, body: Any) -> None:
    assert body["created"] == (1 if caller == "right" else 0), (caller, body)


def _roster_list_check(world: World, caller: str, body: Any) -> None:
    ids = {u["id"] for u in body["items"]}
    assert (world.user("member").id in ids) == (caller == "right"), caller


def _org_list_check(world: World, caller: str, body: Any) -> None:
    ids = {o["id"] for o in body["items"]}
    # C1 is seen by its member and its admins, never by the neighbours.
    assert (world["C1"].id in ids) == (caller in ("member", "right")), caller


async def _role_grant(world: World, caller: str) -> Req:
    return Req(
        path=f"/api/v1/users/{world.user('member').id}/roles",
        json={"role": "info_officer", "org_id": world["C1"].id},
    )


async def _role_revoke(world: World, caller: str) -> Req:
    target = await make_user(
        world.app, "信息员", community=world["C1"], roles=[(Role.info_officer, world["C1"])]
    )
    async with world.app.state.sessionmaker() as s:
        role_id = (
            await s.execute(select(RoleGrant.id).where(RoleGrant.user_id == target.id))
        ).scalar_one()
    return Req(path=f"/api/v1/users/{target.id}/roles/{role_id}")


async def _wechat_login(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/auth/wechat-login", json={"code": f"o-matrix-{caller}#{uuid.uuid4().hex}"}
    )


async def _bind_phone(world: World, caller: str) -> Req:
    # Each caller binds their own roster phone: the only binding that may succeed.
    person = (
        world.user(world_key(caller, "community_admin"))
        if caller != "anonymous"
        else world.user("member")
    )
    phone = world.app.state.cipher.decrypt(person.phone_cipher)
    return Req(path="/api/v1/auth/bind-phone", json={"code": f"{phone}#{uuid.uuid4().hex[:6]}"})


MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/healthz"): Row("member", statuses(200, 200, 200, 200, 200), fixed("/healthz")),
    ("GET", "/readyz"): Row("member", statuses(200, 200, 200, 200, 200), fixed("/readyz")),
    ("POST", "/api/v1/auth/wechat-login"): Row(
        "member", statuses(200, 200, 200, 200, 200), _wechat_login
    ),
    ("POST", "/api/v1/auth/bind-phone"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), _bind_phone
    ),
    ("GET", "/api/v1/me"): Row("member", statuses(401, 200, 200, 200, 200), fixed("/api/v1/me")),
    ("POST", "/api/v1/orgs"): Row("street_admin", statuses(401, 404, 404, 404, 201), _org_create),
    ("GET", "/api/v1/orgs"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), fixed("/api/v1/orgs"), _org_list_check
    ),
    ("GET", "/api/v1/orgs/{org_id}"): Row(
        "community_admin", statuses(401, 200, 404, 404, 200), fixed("/api/v1/orgs/{C1}")
    ),
    ("PATCH", "/api/v1/orgs/{org_id}"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200), _org_patch
    ),
    # A community outside reach named in a body is refused as unusable input.
    ("POST", "/api/v1/users"): Row(
        "community_admin", statuses(401, 403, 422, 422, 201), _user_create
    ),
    ("POST", "/api/v1/users/import"): Row(
        "community_admin", statuses(401, 403, 200, 200, 200), _user_import, _import_check
    ),
    ("GET", "/api/v1/users"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200),
        fixed("/api/v1/users"),
        _roster_list_check,
    ),
    ("GET", "/api/v1/users/{user_id}"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200), _member_path
    ),
    ("PATCH", "/api/v1/users/{user_id}"): Row(
        "street_admin", statuses(401, 403, 404, 404, 200), _member_patch
    ),
    ("POST", "/api/v1/users/{user_id}/roles"): Row(
        "community_admin", statuses(401, 403, 404, 404, 201), _role_grant
    ),
    ("DELETE", "/api/v1/users/{user_id}/roles/{role_id}"): Row(
        "street_admin", statuses(401, 403, 404, 404, 204), _role_revoke
    ),
}


def world_key(caller: str, right: str) -> str:
    return right if caller == "right" else caller


def app_routes() -> set[tuple[str, str]]:
    app = create_app(make_settings("sqlite:///:memory:", Path("/tmp"), "http://127.0.0.1:9/"))
    found = set()
    for ctx in iter_route_contexts(app.routes):
        path, methods = ctx.path, ctx.methods
        if not path or not methods or path in SKIPPED_PATHS:
            continue
        for method in methods - {"HEAD", "OPTIONS"}:
            found.add((method, path))
    return found


def test_every_route_has_a_row_in_the_matrix():
    routes = app_routes()
    missing = routes - MATRIX.keys()
    stale = MATRIX.keys() - routes
    assert not missing, f"routes without authorization rows: {sorted(missing)}"
    assert not stale, f"matrix rows for routes that no longer exist: {sorted(stale)}"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
async def test_route_answers_each_caller_as_the_matrix_says(client, world, route, caller):
    method, _ = route
    row = MATRIX[route]
    req = await row.build(world, caller)
    headers = {} if caller == "anonymous" else world.headers(world_key(caller, row.right))
    url = f"http://test{req.path}"
    resp = await client.request(
        method, url, json=req.json, files=req.files, params=req.params, headers=headers
    )
    expected = row.expect[caller]
    assert resp.status_code == expected, (caller, resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"]
    if row.check and resp.status_code < 300:
        row.check(world, caller, resp.json())
