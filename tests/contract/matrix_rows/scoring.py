"""Rows for the composite score: the district's weights (its district admins set them,
every admin of the district reads them), the score table of an org's children (the
admins over the org), and the monthly comments (月点评) on C1: written by an office
above it (S1's street admin), read by C1's own admins and those above."""

from __future__ import annotations

from typing import Any

from tests.contract.matrix_rows.common import Req, Row, fixed, statuses
from tests.factories.world import World


def _of(path: str, org: str) -> Any:
    async def build(world: World, caller: str) -> Req:
        return Req(path=path, params={"org_id": world[org].id})

    return build


def _scores_check(world: World, caller: str, body: Any) -> None:
    assert body["org_id"] == world["S1"].id
    assert {i["org_id"] for i in body["items"]} == {world[k].id for k in ("C1", "C2", "U1")}


async def _review(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/reviews",
        json={"org_id": world["C1"].id, "month": "2026-11", "comment": "报到率领先，整改偏慢"},
    )


ROWS: dict[tuple[str, str], Row] = {
    ("GET", "/api/v1/scoring"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200),
        _of("/api/v1/scoring", "C1"),
    ),
    ("PUT", "/api/v1/scoring"): Row(
        "district_admin",
        statuses(401, 403, 403, 403, 200),
        fixed("/api/v1/scoring", json={"weights": {"report_in_rate": 2, "rectification_rate": 1}}),
    ),
    ("GET", "/api/v1/stats/scores"): Row(
        "street_admin",
        statuses(401, 403, 404, 404, 200),
        _of("/api/v1/stats/scores", "S1"),
        _scores_check,
    ),
    ("POST", "/api/v1/reviews"): Row("street_admin", statuses(401, 404, 404, 404, 201), _review),
    ("GET", "/api/v1/reviews"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200),
        _of("/api/v1/reviews", "C1"),
    ),
}
