"""Rows for the foundation: health, auth, orgs, roster, roles."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from app.models.user import Role, RoleGrant
from tests.contract.matrix_rows.common import Req, Row, fixed, statuses, world_key
from tests.factories.users import make_user
from tests.factories.world import World


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
    assert (world.user("member").id in ids) == (caller in ("right", "unit_admin")), caller


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


ROWS: dict[tuple[str, str], Row] = {
    ("GET", "/healthz"): Row("member", statuses(200, 200, 200, 200, 200), fixed("/healthz")),
    ("GET", "/readyz"): Row("member", statuses(200, 200, 200, 200, 200), fixed("/readyz")),
    # The audit log is for district admins only; neighbours are admins but not district ones.
    ("GET", "/api/v1/audit-log"): Row(
        "district_admin", statuses(401, 403, 403, 403, 200), fixed("/api/v1/audit-log")
    ),
    # Operators' endpoint: open unless METRICS_TOKEN is set (tests leave it unset).
    ("GET", "/metrics"): Row("member", statuses(200, 200, 200, 200, 200), fixed("/metrics")),
    ("POST", "/api/v1/auth/wechat-login"): Row(
        "member", statuses(200, 200, 200, 200, 200), _wechat_login
    ),
    ("POST", "/api/v1/auth/bind-phone"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), _bind_phone
    ),
    ("GET", "/api/v1/me"): Row("member", statuses(401, 200, 200, 200, 200), fixed("/api/v1/me")),
    # Everyone logged in may end their own tokens, and only their own.
    ("POST", "/api/v1/auth/logout-all"): Row(
        "member", statuses(401, 204, 204, 204, 204), fixed("/api/v1/auth/logout-all")
    ),
    ("POST", "/api/v1/orgs"): Row("street_admin", statuses(401, 404, 404, 404, 201), _org_create),
    ("GET", "/api/v1/orgs"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), fixed("/api/v1/orgs"), _org_list_check
    ),
    ("GET", "/api/v1/orgs/{org_id}"): Row(
        "community_admin",
        statuses(401, 200, 404, 404, 200, unit_admin=404, other_unit_admin=404),
        fixed("/api/v1/orgs/{C1}"),
    ),
    ("PATCH", "/api/v1/orgs/{org_id}"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, unit_admin=404, other_unit_admin=404),
        _org_patch,
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
        # U1's secretary lists U1's members (the member among them).
        statuses(401, 403, 200, 200, 200, unit_admin=200, other_unit_admin=200),
        fixed("/api/v1/users"),
        _roster_list_check,
    ),
    ("GET", "/api/v1/users/{user_id}"): Row(
        "community_admin",
        # The member works at U1: its secretary sees them, another unit's does not.
        statuses(401, 403, 404, 404, 200, unit_admin=200, other_unit_admin=404),
        _member_path,
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
