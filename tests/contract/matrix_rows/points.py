"""Rows for points (the ledger, rules, awards) and the community shop."""

from __future__ import annotations

from typing import Any

from tests.contract.matrix_rows.common import Req, Row, fixed, statuses, world_key
from tests.factories.points import fund, insert_item, insert_redemption
from tests.factories.world import World

RULES = {
    "per_volunteer_hour": 10,
    "per_confirmed_wish": 20,
    "per_completed_order": 15,
    "per_report_in": 5,
}


async def _award(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/points/awards",
        json={"user_id": world.user("member").id, "points": 5, "reason": "志愿服务表现突出"},
    )


async def _accounts(world: World, caller: str) -> Req:
    await fund(world.app, world.user("member"), world["C1"], 12)
    # A unit's secretary asks for their unit: its members' accounts, by membership.
    org = "U1" if caller in ("unit_admin", "other_unit_admin") else "C1"
    return Req(path="/api/v1/points/accounts", params={"org_id": world[org].id})


def _accounts_check(world: World, caller: str, body: Any) -> None:
    assert [(a["user_id"], a["balance"]) for a in body["items"]] == [
        (world.user("member").id, 12)
    ], caller


async def _rules(world: World, caller: str) -> Req:
    return Req(path="/api/v1/points/rules", params={"org_id": world["C1"].id})


async def _stats(world: World, caller: str) -> Req:
    await fund(world.app, world.user("member"), world["C1"], 12)
    org = "U1" if caller in ("unit_admin", "other_unit_admin") else "C1"
    return Req(path="/api/v1/stats/points", params={"org_id": world[org].id})


def _stats_check(world: World, caller: str, body: Any) -> None:
    if caller == "right":
        assert (body["issued"], body["outstanding"]) == (12, 12)
        (c1,) = body["top_earners"]
        assert [(e["user_id"], e["earned"]) for e in c1["earners"]] == [
            (world.user("member").id, 12)
        ]


async def _item(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/shop/items",
        json={"community_id": world["C1"].id, "name": "食用油", "points": 30, "stock": 2},
    )


async def _items(world: World, caller: str) -> Req:
    await insert_item(world.app, world["C1"])
    return Req(path="/api/v1/shop/items", params={"community_id": world["C1"].id})


async def _redeem(world: World, caller: str) -> Req:
    item = await insert_item(world.app, world["C1"], stock=1, price=10)
    if caller != "anonymous":
        person = world.user(world_key(caller, "member"))
        await fund(world.app, person, world["C1"], 10)
    return Req(path="/api/v1/shop/redemptions", json={"item_id": item.id})


async def _redemptions(world: World, caller: str) -> Req:
    await insert_redemption(world.app, world.user("member"), world["C1"])
    return Req(path="/api/v1/shop/redemptions")


def _redemptions_check(world: World, caller: str, body: Any) -> None:
    # The member's reservation: theirs and the C1 shopkeeper's to see, nobody else's.
    seen = caller in ("member", "right")
    assert [r["user_id"] for r in body["items"]] == ([world.user("member").id] if seen else [])
    if seen:
        assert body["items"][0]["pickup_code"] == ("123456" if caller == "member" else None)


async def _collect(world: World, caller: str) -> Req:
    r = await insert_redemption(world.app, world.user("member"), world["C1"])
    return Req(path=f"/api/v1/shop/redemptions/{r.id}/collect", json={"pickup_code": "123456"})


async def _cancel(world: World, caller: str) -> Req:
    r = await insert_redemption(world.app, world.user("member"), world["C1"])
    return Req(path=f"/api/v1/shop/redemptions/{r.id}/cancel")


OUT = {"unit_admin": 404, "other_unit_admin": 404}

ROWS: dict[tuple[str, str], Row] = {
    ("PUT", "/api/v1/points/rules"): Row(
        "district_admin",
        statuses(401, 403, 403, 403, 200),
        fixed("/api/v1/points/rules", json=RULES),
    ),
    # Awards are a community's: the member's home C1, whose admin alone gives them.
    ("POST", "/api/v1/points/awards"): Row(
        "community_admin", statuses(401, 404, 404, 404, 201, **OUT), _award
    ),
    ("GET", "/api/v1/me/points"): Row(
        "member", statuses(401, 200, 200, 200, 200), fixed("/api/v1/me/points")
    ),
    # A district's rules, read by its admins at every level below.
    ("GET", "/api/v1/points/rules"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200),
        _rules,
    ),
    ("GET", "/api/v1/stats/points"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, unit_admin=200, other_unit_admin=404),
        _stats,
        _stats_check,
    ),
    ("GET", "/api/v1/points/accounts"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, unit_admin=200, other_unit_admin=404),
        _accounts,
        _accounts_check,
    ),
    ("POST", "/api/v1/shop/items"): Row(
        "community_admin", statuses(401, 404, 404, 404, 201, **OUT), _item
    ),
    # A shop is its residents' (and its admins'): the neighbours' admins live elsewhere.
    ("GET", "/api/v1/shop/items"): Row("member", statuses(401, 200, 404, 404, 200, **OUT), _items),
    ("POST", "/api/v1/shop/redemptions"): Row(
        "member", statuses(401, 201, 404, 404, 201, **OUT), _redeem
    ),
    ("GET", "/api/v1/shop/redemptions"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), _redemptions, _redemptions_check
    ),
    # The person sees their reservation but the shopkeeper collects it.
    ("POST", "/api/v1/shop/redemptions/{redemption_id}/collect"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200, **OUT), _collect
    ),
    ("POST", "/api/v1/shop/redemptions/{redemption_id}/cancel"): Row(
        "member", statuses(401, 200, 404, 404, 200, **OUT), _cancel
    ),
}
