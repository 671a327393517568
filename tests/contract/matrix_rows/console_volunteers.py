"""Rows for the console's volunteer reviews, teams and order board."""

from __future__ import annotations

from app.models.service_order import OrderStatus
from tests.contract.matrix_rows.common import Req, Row, statuses
from tests.factories.service_orders import insert_item, insert_order
from tests.factories.teams import insert_team
from tests.factories.users import make_user
from tests.factories.volunteers import insert_volunteer
from tests.factories.world import World

screen = statuses(401, 403, 200, 200, 200)
action = statuses(401, 403, 404, 404, 303)


def _only_right_sees(marker: str):  # type: ignore[no-untyped-def]
    def check(world: World, caller: str, page: object) -> None:
        # C1's record is the only one of its kind in the world.
        assert isinstance(page, str)
        assert (marker in page) == (caller == "right"), caller

    return check


async def _c1_team(world: World):  # type: ignore[no-untyped-def]
    leader = await make_user(world.app, "队长", community=world["C1"])
    return await insert_team(world.app, org=world["C1"], leader=leader)


async def _c1_order(world: World, status: OrderStatus = OrderStatus.submitted):  # type: ignore[no-untyped-def]
    orderer = await make_user(world.app, "点单居民", community=world["C1"])
    return await insert_order(world.app, community=world["C1"], orderer=orderer, status=status)


async def _reviews(world: World, caller: str) -> Req:
    await insert_volunteer(world.app, community=world["C1"])
    return Req(path="/console/reviews/volunteers")


async def _approve(world: World, caller: str) -> Req:
    volunteer = await insert_volunteer(world.app, community=world["C1"])
    return Req(path=f"/console/reviews/volunteers/{volunteer.id}", data={"decision": "approve"})


async def _teams(world: World, caller: str) -> Req:
    await _c1_team(world)
    return Req(path="/console/teams")


async def _board(world: World, caller: str) -> Req:
    await _c1_order(world)
    return Req(path="/console/service-orders")


async def _accept(world: World, caller: str) -> Req:
    order = await _c1_order(world)
    return Req(path=f"/console/service-orders/{order.id}/accept", data={})


async def _dispatch(world: World, caller: str) -> Req:
    order = await _c1_order(world, OrderStatus.accepted)
    team = await _c1_team(world)
    return Req(path=f"/console/service-orders/{order.id}/dispatch", data={"team_id": team.id})


# The service menu (服务清单): C1's item is the only one in the world.
MENU_ITEM = "矩阵里东关社区的服务"


async def _menu(world: World, caller: str) -> Req:
    await insert_item(world.app, org=world["C1"], by=world.user("community_admin"), title=MENU_ITEM)
    return Req(path="/console/service-items")


async def _offer(world: World, caller: str) -> Req:
    form = {"org_id": world["C1"].id, "title": "代买药品", "service_type": "代办", "team_id": ""}
    return Req(path="/console/service-items", data=form)


async def _withdraw(world: World, caller: str) -> Req:
    item = await insert_item(world.app, org=world["C1"], by=world.user("community_admin"))
    return Req(path=f"/console/service-items/{item.id}/withdraw", data={})


ROWS: dict[tuple[str, str], Row] = {
    ("GET", "/console/service-items"): Row(
        "community_admin", screen, _menu, _only_right_sees(MENU_ITEM), console=True
    ),
    ("POST", "/console/service-items"): Row("community_admin", action, _offer, console=True),
    ("POST", "/console/service-items/{item_id}/withdraw"): Row(
        "community_admin", action, _withdraw, console=True
    ),
    ("GET", "/console/reviews/volunteers"): Row(
        "community_admin", screen, _reviews, _only_right_sees("data-item="), console=True
    ),
    ("POST", "/console/reviews/volunteers/{volunteer_id}"): Row(
        "community_admin", action, _approve, console=True
    ),
    ("GET", "/console/teams"): Row(
        "community_admin", screen, _teams, _only_right_sees("data-team="), console=True
    ),
    ("GET", "/console/service-orders"): Row(
        "community_admin", screen, _board, _only_right_sees("data-order="), console=True
    ),
    ("POST", "/console/service-orders/{order_id}/accept"): Row(
        "community_admin", action, _accept, console=True
    ),
    ("POST", "/console/service-orders/{order_id}/dispatch"): Row(
        "community_admin", action, _dispatch, console=True
    ),
}
