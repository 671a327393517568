"""Rows for household visits (入户调查): recorded by admins and inspectors whose reach
covers the community (C1 here), read as figures by the admins over an org."""

from __future__ import annotations

from typing import Any

from tests.contract.matrix_rows.common import Req, Row, statuses
from tests.factories.world import World


async def _create(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/household-visits",
        json={
            "community_id": world["C1"].id,
            "household_label": "3栋2单元501",
            "aware": True,
            "satisfaction": 5,
        },
    )


async def _stats(world: World, caller: str) -> Req:
    return Req(path="/api/v1/stats/household-visits", params={"org_id": world["C1"].id})


def _stats_check(world: World, caller: str, body: Any) -> None:
    assert body["org_id"] == world["C1"].id and body["total"]["communities"] == 1


ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/household-visits"): Row(
        "inspector", statuses(401, 404, 404, 404, 201), _create
    ),
    ("GET", "/api/v1/stats/household-visits"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, unit_admin=403, other_unit_admin=403),
        _stats,
        _stats_check,
    ),
}
