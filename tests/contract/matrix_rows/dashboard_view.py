"""Rows for the dashboard page: the link is made by an admin over the org (a member
403, an admin outside reach 404, as for GET /dashboard); the page checks the same of
the person the link names, at every load; its files are public."""

from __future__ import annotations

from app.core.security import issue_view_token
from app.routers.dashboard_view import static_assets
from tests.contract.matrix_rows.common import Req, Row, statuses, world_key
from tests.factories.world import World


async def _link_for_c1(world: World, caller: str) -> Req:
    return Req(path="/api/v1/dashboard/view-links", json={"org_id": world["C1"].id})


def _link_check(world: World, caller: str, body: object) -> None:
    assert isinstance(body, dict)
    assert "/api/v1/dashboard/view?token=" in body["url"] and body["expires_in"] == 600


async def _page_of_c1(world: World, caller: str) -> Req:
    # Each caller opens a link naming themselves (as if an admin had once made it
    # for them); anonymous has none.
    if caller == "anonymous":
        return Req(path="/api/v1/dashboard/view")
    person = world.user(world_key(caller, "community_admin"))
    token, _ = issue_view_token(world.app.state.settings, admin=person, org_id=world["C1"].id)
    return Req(path="/api/v1/dashboard/view", params={"token": token})


async def _echarts(world: World, caller: str) -> Req:
    digest = static_assets()["echarts.min.js"].digest
    return Req(path=f"/api/v1/dashboard/assets/{digest}/echarts.min.js")


ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/dashboard/view-links"): Row(
        "community_admin", statuses(401, 403, 404, 404, 201), _link_for_c1, _link_check
    ),
    ("GET", "/api/v1/dashboard/view"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200), _page_of_c1
    ),
    ("GET", "/api/v1/dashboard/assets/{digest}/{name}"): Row(
        "community_admin", statuses(200, 200, 200, 200, 200), _echarts
    ),
}
