"""Rows for the dashboard, the ranking and the report-in figures: for admins over the
org (and stats keys); a member is 403, an admin asking about an org outside reach
404. Units' secretaries ask about their unit only: C1, where U1's member lives, is
404 to them."""

from __future__ import annotations

from typing import Any

from tests.contract.matrix_rows.common import Req, Row, statuses
from tests.factories.world import World


def _about_c1(path: str) -> Any:
    async def build(world: World, caller: str) -> Req:
        return Req(path=path, params={"org_id": world["C1"].id})

    return build


def _dashboard_check(world: World, caller: str, body: Any) -> None:
    assert body["org_id"] == world["C1"].id
    # The world's C1 holds five party members (everyone but the two neighbours).
    assert (body["members"], body["party_members"]) == (5, 5)


def _children_check(world: World, caller: str, body: Any) -> None:
    assert body["org_id"] == world["C1"].id
    assert body["items"] == []  # a community has no child orgs


def _figures_check(world: World, caller: str, body: Any) -> None:
    assert (body["org_id"], body["members"], body["reported"]) == (world["C1"].id, 5, 0)
    assert len(body["not_reported"]) == 5
    assert all("*" in p["phone_masked"] for p in body["not_reported"])


UNITS_OUT = {"unit_admin": 404, "other_unit_admin": 404}


def _year_figures_check(world: World, caller: str, body: Any) -> None:
    assert (body["org_id"], body["members"]) == (world["C1"].id, 5)
    assert all(m["reported"] == 0 for m in body["months"])
    assert len(body["not_reported"]) == 5
    assert all("*" in p["phone_masked"] for p in body["not_reported"])


ROWS: dict[tuple[str, str], Row] = {
    ("GET", "/api/v1/dashboard"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, **UNITS_OUT),
        _about_c1("/api/v1/dashboard"),
        _dashboard_check,
    ),
    ("GET", "/api/v1/dashboard/children"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, **UNITS_OUT),
        _about_c1("/api/v1/dashboard/children"),
        _children_check,
    ),
    ("GET", "/api/v1/stats/report-ins"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, **UNITS_OUT),
        _about_c1("/api/v1/stats/report-ins"),
        _figures_check,
    ),
    # issue 18 (r2s4-units): the year's report-ins, month by month
    ("GET", "/api/v1/stats/report-ins/year"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, **UNITS_OUT),
        _about_c1("/api/v1/stats/report-ins/year"),
        _year_figures_check,
    ),
}
