"""Rows for the service menu and service orders."""

from __future__ import annotations

from typing import Any

from app.models.service_order import OrderStatus
from tests.contract.matrix_rows.common import Req, Row, statuses, world_key
from tests.factories.media import make_media
from tests.factories.service_orders import insert_item, insert_order
from tests.factories.teams import insert_team
from tests.factories.users import make_user
from tests.factories.world import World

logged_in = statuses(401, 200, 200, 200, 200, unit_admin=200, other_unit_admin=200)
# A C1 resident's order: the C1 admin's (or the orderer's, taker's, team's) alone.
in_c1_only = statuses(401, 404, 404, 404, 200)
# The member's own step (orderer, taker, team member); a unit's secretary follows what
# members did elsewhere, not their orders.
persons_own = statuses(401, 200, 404, 404, 200, unit_admin=404, other_unit_admin=404)


async def _order(world: World, status: OrderStatus = OrderStatus.submitted, **kw: Any) -> Any:
    if "orderer" not in kw:
        kw["orderer"] = await make_user(world.app, "点单居民", community=world["C1"])
    return await insert_order(world.app, community=world["C1"], status=status, **kw)


async def _members_team(world: World) -> Any:
    return await insert_team(world.app, org=world["C1"], leader=world.user("member"))


async def _create_item(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/service-items",
        json={"org_id": world["C1"].id, "title": "上门理发", "service_type": "助老"},
    )


async def _withdraw(world: World, caller: str) -> Req:
    item = await insert_item(world.app, org=world["C1"], by=world.user("community_admin"))
    return Req(path=f"/api/v1/service-items/{item.id}/withdraw")


async def _history(world: World, caller: str) -> Req:
    return Req(path=f"/api/v1/service-orders/{(await _order(world)).id}/history")


async def _menu(world: World, caller: str) -> Req:
    return Req(path="/api/v1/service-items", params={"community_id": world["C1"].id})


async def _create_order(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/service-orders",
        json={
            "title": "上门理发",
            "description": "行动不便",
            "community_id": world["C1"].id,
            "address": "幸福里3栋",
        },
    )


async def _list(world: World, caller: str) -> Req:
    await _order(world)
    return Req(path="/api/v1/service-orders")


def _list_check(world: World, caller: str, body: Any) -> None:
    assert body["total"] == (1 if caller == "right" else 0), caller


async def _one(world: World, caller: str) -> Req:
    return Req(path=f"/api/v1/service-orders/{(await _order(world)).id}")


def _step(action: str, status: OrderStatus, json: Any = None) -> Any:
    async def build(world: World, caller: str) -> Req:
        order = await _order(world, status)
        return Req(path=f"/api/v1/service-orders/{order.id}/{action}", json=json)

    return build


async def _dispatch(world: World, caller: str) -> Req:
    order = await _order(world, OrderStatus.accepted)
    team = await _members_team(world)
    return Req(path=f"/api/v1/service-orders/{order.id}/dispatch", json={"team_id": team.id})


async def _take(world: World, caller: str) -> Req:
    order = await _order(world, OrderStatus.dispatched, team=await _members_team(world))
    return Req(path=f"/api/v1/service-orders/{order.id}/take")


async def _complete(world: World, caller: str) -> Req:
    member = world.user("member")
    team = await _members_team(world)
    order = await _order(world, OrderStatus.taken, team=team, taker=member)
    photos = []
    if caller != "anonymous":
        photos = [(await make_media(world.app, world.user(world_key(caller, "member")))).id]
    return Req(
        path=f"/api/v1/service-orders/{order.id}/complete",
        json={"photo_ids": photos, "minutes": 30, "note": "已理发"},
    )


async def _rate(world: World, caller: str) -> Req:
    taker = await make_user(world.app, "接单人", community=world["C1"])
    order = await _order(
        world,
        OrderStatus.completed,
        orderer=world.user("member"),
        team=await insert_team(world.app, org=world["C1"], leader=taker),
        taker=taker,
    )
    return Req(path=f"/api/v1/service-orders/{order.id}/rate", json={"stars": 5})


async def _cancel(world: World, caller: str) -> Req:
    order = await _order(world, OrderStatus.submitted, orderer=world.user("member"))
    return Req(path=f"/api/v1/service-orders/{order.id}/cancel")


ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/service-items"): Row(
        "community_admin", statuses(401, 403, 404, 404, 201), _create_item
    ),
    ("POST", "/api/v1/service-items/{item_id}/withdraw"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200), _withdraw
    ),
    # The menu is public to anyone logged in: it holds nobody's data.
    ("GET", "/api/v1/service-items"): Row("member", logged_in, _menu),
    # For a community of one's own district; the units' secretaries live nowhere and
    # reach no place.
    ("POST", "/api/v1/service-orders"): Row(
        "member",
        statuses(401, 201, 201, 201, 201, unit_admin=422, other_unit_admin=422),
        _create_order,
    ),
    ("GET", "/api/v1/service-orders"): Row("community_admin", logged_in, _list, _list_check),
    ("GET", "/api/v1/service-orders/{order_id}"): Row("community_admin", in_c1_only, _one),
    ("GET", "/api/v1/service-orders/{order_id}/history"): Row(
        "community_admin", in_c1_only, _history
    ),
    ("POST", "/api/v1/service-orders/{order_id}/accept"): Row(
        "community_admin", in_c1_only, _step("accept", OrderStatus.submitted)
    ),
    ("POST", "/api/v1/service-orders/{order_id}/reject"): Row(
        "community_admin", in_c1_only, _step("reject", OrderStatus.submitted, {"reason": "重复"})
    ),
    ("POST", "/api/v1/service-orders/{order_id}/dispatch"): Row(
        "community_admin", in_c1_only, _dispatch
    ),
    # The member leads the team it was dispatched to; the taker, the orderer.
    ("POST", "/api/v1/service-orders/{order_id}/take"): Row("member", persons_own, _take),
    ("POST", "/api/v1/service-orders/{order_id}/complete"): Row("member", persons_own, _complete),
    ("POST", "/api/v1/service-orders/{order_id}/rate"): Row("member", persons_own, _rate),
    ("POST", "/api/v1/service-orders/{order_id}/cancel"): Row("member", persons_own, _cancel),
}
