"""Rows for volunteer registration, review and opting in."""

from __future__ import annotations

import itertools
from typing import Any

from tests.contract.matrix_rows.common import Req, Row, statuses, world_key
from tests.factories.volunteers import insert_volunteer
from tests.factories.world import World

_codes = itertools.count(1)


async def _register(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/volunteers/register",
        json={
            "name": "志愿者",
            "phone_code": f"1390000{next(_codes):04d}#1",
            "community_id": world["C1"].id,
            "consent": True,
        },
    )


async def _a_c1_volunteer(world: World, caller: str) -> Req:
    volunteer = await insert_volunteer(world.app, community=world["C1"])
    return Req(path=f"/api/v1/volunteers/{volunteer.id}")


async def _review(world: World, caller: str) -> Req:
    volunteer = await insert_volunteer(world.app, community=world["C1"])
    return Req(path=f"/api/v1/volunteers/{volunteer.id}/review", json={"approve": True})


async def _list(world: World, caller: str) -> Req:
    await insert_volunteer(world.app, community=world["C1"])
    return Req(path="/api/v1/volunteers")


def _list_check(world: World, caller: str, body: Any) -> None:
    # The C1 volunteer is the C1 admin's to see, not the neighbours'.
    assert body["total"] == (1 if caller == "right" else 0), caller


async def _own(world: World, caller: str) -> Req:
    if caller != "anonymous":
        person = world.user(world_key(caller, "member"))
        await insert_volunteer(world.app, community=world["C1"], user=person)
    return Req(path="/api/v1/me/volunteer")


async def _opt_in(world: World, caller: str) -> Req:
    return Req(path="/api/v1/me/volunteer", json={"consent": True, "skills": ["宣讲"]})


everyone = statuses(401, 200, 200, 200, 200, unit_admin=200, other_unit_admin=200)

ROWS: dict[tuple[str, str], Row] = {
    # Registration is for people on no roster: the units' secretaries are the world's.
    ("POST", "/api/v1/volunteers/register"): Row(
        "unit_admin",
        statuses(401, 409, 409, 409, 201, unit_admin=201, other_unit_admin=201),
        _register,
    ),
    ("GET", "/api/v1/volunteers"): Row(
        "community_admin", statuses(401, 403, 200, 200, 200), _list, _list_check
    ),
    ("GET", "/api/v1/volunteers/{volunteer_id}"): Row(
        "community_admin", statuses(401, 404, 404, 404, 200), _a_c1_volunteer
    ),
    ("POST", "/api/v1/volunteers/{volunteer_id}/review"): Row(
        "community_admin", statuses(401, 404, 404, 404, 200), _review
    ),
    ("GET", "/api/v1/me/volunteer"): Row("member", everyone, _own),
    ("DELETE", "/api/v1/me/volunteer"): Row("member", everyone, _own),
    # Opting in is for roster people; the units' secretaries live nowhere.
    ("POST", "/api/v1/me/volunteer"): Row(
        "member",
        statuses(401, 201, 201, 201, 201, unit_admin=409, other_unit_admin=409),
        _opt_in,
    ),
}
