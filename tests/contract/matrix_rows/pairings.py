"""Rows for pairings (结对共建) of unit U1 with community C1, and liaisons (包联).

Pairing is the district's, or a street's over both the unit and the community: C2's
secretary administers no street (403), S2's admin reaches neither (404). U1's
secretary sees U1's pairings but manages none; another unit's sees nothing.
"""

from __future__ import annotations

from typing import Any

from tests.contract.matrix_rows.common import Req, Row, statuses
from tests.factories.pairings import make_liaison, make_pairing
from tests.factories.world import World

UNITS_NONE = {"unit_admin": 403, "other_unit_admin": 403}


async def _create(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/pairings",
        json={
            "unit_id": world["U1"].id,
            "community_id": world["C1"].id,
            "starts_on": "2026-03-01",
            "commitments": ["每月组织一次志愿服务", "认领微心愿"],
        },
    )


async def _pairing(world: World) -> Any:
    return await make_pairing(
        world.app, unit=world["U1"], community=world["C1"], by=world.user("street_admin")
    )


async def _list(world: World, caller: str) -> Req:
    await _pairing(world)
    return Req(path="/api/v1/pairings")


def _list_check(world: World, caller: str, body: Any) -> None:
    seen = {(p["unit_id"], p["community_id"]) for p in body["items"]}
    assert ((world["U1"].id, world["C1"].id) in seen) == (caller in ("right", "unit_admin"))


async def _end(world: World, caller: str) -> Req:
    pairing = await _pairing(world)
    return Req(path=f"/api/v1/pairings/{pairing.id}/end", json={"note": "协议期满"})


async def _history(world: World, caller: str) -> Req:
    pairing = await _pairing(world)
    return Req(path=f"/api/v1/pairings/{pairing.id}/history")


async def _liaison_end(world: World, caller: str) -> Req:
    liaison = await make_liaison(
        world.app,
        leader=world.user("street_admin"),
        org=world["C1"],
        by=world.user("district_admin"),
    )
    return Req(path=f"/api/v1/liaisons/{liaison.id}/end", json={})


async def _liaison_create(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/liaisons",
        json={
            "user_id": world.user("street_admin").id,
            "org_id": world["C1"].id,
            "starts_on": "2026-03-01",
        },
    )


async def _liaisons(world: World, caller: str) -> Req:
    await make_liaison(
        world.app,
        leader=world.user("street_admin"),
        org=world["C1"],
        by=world.user("district_admin"),
    )
    return Req(path="/api/v1/liaisons")


def _liaisons_check(world: World, caller: str, body: Any) -> None:
    seen = {x["org_id"] for x in body["items"]}
    assert (world["C1"].id in seen) == (caller == "right")


async def _stats(world: World, caller: str) -> Req:
    await _pairing(world)
    return Req(path="/api/v1/stats/pairings", params={"org_id": world["C1"].id})


def _stats_check(world: World, caller: str, body: Any) -> None:
    assert [(i["unit_id"], i["members"]) for i in body["items"]] == [(world["U1"].id, 1)]


ROWS: dict[tuple[str, str], Row] = {
    # Figures about C1's pairings: C1's (and above); the units' secretaries ask about
    # their unit (tests/routers/test_pairings.py), not C1.
    ("GET", "/api/v1/stats/pairings"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, unit_admin=404, other_unit_admin=404),
        _stats,
        _stats_check,
    ),
    ("POST", "/api/v1/pairings"): Row(
        "street_admin", statuses(401, 403, 403, 404, 201, **UNITS_NONE), _create
    ),
    ("GET", "/api/v1/pairings"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200, unit_admin=200, other_unit_admin=200),
        _list,
        _list_check,
    ),
    ("POST", "/api/v1/pairings/{pairing_id}/end"): Row(
        "street_admin",
        statuses(401, 403, 404, 404, 200, unit_admin=403, other_unit_admin=404),
        _end,
    ),
    ("GET", "/api/v1/pairings/{pairing_id}/history"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, unit_admin=200, other_unit_admin=404),
        _history,
    ),
    # Out of reach first (an admin's reach decides), then the district's role.
    ("POST", "/api/v1/liaisons/{liaison_id}/end"): Row(
        "district_admin", statuses(401, 403, 404, 404, 200, **UNITS_NONE), _liaison_end
    ),
    ("POST", "/api/v1/liaisons"): Row(
        "district_admin", statuses(401, 403, 403, 403, 201, **UNITS_NONE), _liaison_create
    ),
    ("GET", "/api/v1/liaisons"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200, **UNITS_NONE),
        _liaisons,
        _liaisons_check,
    ),
}
